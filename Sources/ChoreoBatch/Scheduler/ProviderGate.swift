import ChoreoAI
import Foundation
import Synchronization

/// Paces one provider's requests: a concurrency cap, request and token budgets per minute, and a
/// shared pause when the provider says slow down.
///
/// Better than a fixed cool-down: every response's `x-ratelimit-remaining-*` / `-reset-*` headers
/// (`observe`) re-plan the pace continuously: when the remaining budget runs low, requests are
/// spread over the time left until the reset instead of bursting into a 429. A 429 pauses the
/// whole provider (every job), not just the one that got it. So does an outage (`ProviderHealth`):
/// while the provider is down, one request at a time goes out as the probe.
///
/// A class with its state under a lock, not an actor: every job passes through it three times
/// (admit, observe, settle), and an actor hop each time was measurable on short jobs.
final class ProviderGate: Sendable {
    let name: String
    private let concurrency: AsyncSemaphore?
    private let requestsPerMinute: Int?
    private let tokensPerMinute: Int?

    private struct Pace {
        // Token buckets: capacity one minute's budget, refilled continuously.
        var requestTokens: Double
        var tokenTokens: Double
        var lastRefill = Date().timeIntervalSince1970
        /// No request starts before this (a 429's retry-after, an exhausted header budget).
        var pausedUntil = 0.0
        /// Minimum spacing between request starts derived from the headers (0: none).
        var spacing = 0.0
        var lastStart = 0.0
    }
    private let pace: Mutex<Pace>
    private let health: Mutex<ProviderHealth>
    /// Host and port of the provider, for outage messages.
    let origin: String
    private let events: RunEvents?

    init(name: String, maxConcurrency: Int?, requestsPerMinute: Int?, tokensPerMinute: Int?,
         origin: String = "", outagePolicy: ProviderHealth.Policy = .init(), events: RunEvents? = nil) {
        self.name = name
        self.concurrency = maxConcurrency.map { AsyncSemaphore(permits: max(1, $0)) }
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.pace = Mutex(Pace(requestTokens: Double(requestsPerMinute ?? 0), tokenTokens: Double(tokensPerMinute ?? 0)))
        self.health = Mutex(ProviderHealth(policy: outagePolicy, started: Date().timeIntervalSince1970))
        self.origin = origin
        self.events = events
    }

    private var now: Double { Date().timeIntervalSince1970 }

    /// Requests waiting for a concurrency permit now.
    var waitingForPermit: Int { concurrency?.waiting ?? 0 }

    /// When the current pause ends (seconds since 1970; in the past: none).
    var pausedUntil: Double { pace.withLock { $0.pausedUntil } }

    /// Waits until a request of about `estimatedTokens` may start; returns with a concurrency permit
    /// held (give it back with `finished`), and the probe id when the provider is down and this
    /// request is its probe. Throws `ProviderUnreachable` once the run gave up waiting for it.
    @discardableResult
    func admit(estimatedTokens: Int) async throws -> Int? {
        try await concurrency?.acquire()
        var probe: Int?
        do {
            probe = try await passOutage()
            while true {
                try Task.checkCancellation()
                let wait = pace.withLock { reserve(&$0, tokens: Double(estimatedTokens)) }
                if wait <= 0 { return probe }
                try await Task.sleep(nanoseconds: UInt64(min(wait, 60) * 1e9))
            }
        } catch {
            if let probe { finished(probe: probe, permit: false) }
            concurrency?.release()
            throw error
        }
    }

    /// Gives back the permit of `admit`. A probe that ended without a verdict (its job was
    /// interrupted) lets the next request probe.
    func finished(probe: Int? = nil) { finished(probe: probe, permit: true) }

    private func finished(probe: Int?, permit: Bool) {
        if let probe { health.withLock { $0.probeEnded(probe) } }
        if permit { concurrency?.release() }
    }

    /// Waits while the provider is down, unless this request is let through as the probe.
    private func passOutage() async throws -> Int? {
        while true {
            try Task.checkCancellation()
            let (admission, change, outage) = health.withLock { h in
                let (a, c) = h.admit(now: now)
                return (a, c, c == nil ? nil : h.outage)
            }
            if let change { report(change, outage: outage) }
            switch admission {
            case .go: return nil
            case .probe(let id): return id
            case .wait(let seconds): try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            case .gaveUp:
                let o = health.withLock { $0.outage }
                throw ProviderUnreachable(provider: name, cause: o.map { "\($0.reason) at \(origin)" } ?? "unreachable at \(origin)")
            }
        }
    }

    /// The provider answered a request sent at `sentAt`: it is reachable (ends an outage).
    func answered(sentAt: Double) {
        let (change, outage) = health.withLock { h in
            let c = h.answered(sentAt: sentAt)
            return (c, h.outage)
        }
        if let change { report(change, outage: outage) }
    }

    /// An attempt failed in a way that says the provider is unreachable (`Failure.unreachable`).
    /// Returns whether the failure uses up an attempt of its job: only a lone one does; failures
    /// that belong to an outage do not.
    func unreachable(reason: String, probe: Int?) -> Bool {
        let (counts, change, outage, probeMoved) = health.withLock { h in
            let r = h.unreachable(reason: reason, probe: probe, now: now)
            return (r.counts, r.change, h.outage, probe != nil)
        }
        if let change {
            report(change, outage: outage)
        } else if probeMoved, let outage {
            events?.provider(name, outage: snapshot(outage, gaveUp: false), log: nil)
        }
        return counts
    }

    /// The outage in progress or given up, as the progress line and the summary show it.
    var outage: ProviderOutage? {
        health.withLock { h in h.outage.map { snapshot($0, gaveUp: h.gaveUp, neverAnswered: !h.answeredOnce) } }
    }

    private func snapshot(_ o: ProviderHealth.Outage, gaveUp: Bool, neverAnswered: Bool = false) -> ProviderOutage {
        ProviderOutage(provider: name, reason: o.reason, origin: origin, since: Date(timeIntervalSince1970: o.since),
                       nextProbe: gaveUp ? nil : Date(timeIntervalSince1970: o.nextProbe), gaveUp: gaveUp, neverAnswered: neverAnswered)
    }

    /// One log line per state change.
    private func report(_ change: ProviderHealth.Change, outage: ProviderHealth.Outage?) {
        switch change {
        case .down(let o):
            events?.provider(name, outage: snapshot(o, gaveUp: false), log: (.warning,
                "provider \(name) unreachable (\(o.reason) at \(origin)): pausing its jobs; probing with one request from \(String(format: "%g", o.interval)) s on"))
        case .recovered(let o):
            events?.provider(name, outage: nil, log: (.info,
                "provider \(name) answered again after \(ProviderOutage.clock(now - o.since)): resuming its jobs"))
        case .gaveUp(let o, let neverAnswered):
            let why = neverAnswered ? "it never answered in this run" : "unreachable for \(ProviderOutage.clock(now - o.since)), past --outage-limit"
            events?.provider(name, outage: snapshot(o, gaveUp: true, neverAnswered: neverAnswered), log: (.error,
                "provider \(name) (\(o.reason) at \(origin)): \(why); stopped waiting, its jobs stay pending"))
        }
    }

    /// Takes budget for one request now, or says how long to wait for it.
    private func reserve(_ p: inout Pace, tokens: Double) -> Double {
        let t = now
        refill(&p, t)
        var wait = max(p.pausedUntil - t, p.lastStart + p.spacing - t)
        if let rpm = requestsPerMinute, p.requestTokens < 1 {
            wait = max(wait, (1 - p.requestTokens) / (Double(rpm) / 60))
        }
        if let tpm = tokensPerMinute {
            // A request larger than a whole minute's budget may go once the bucket is full.
            let need = min(tokens, Double(tpm))
            if p.tokenTokens < need { wait = max(wait, (need - p.tokenTokens) / (Double(tpm) / 60)) }
        }
        guard wait <= 0 else { return wait }
        if requestsPerMinute != nil { p.requestTokens -= 1 }
        if tokensPerMinute != nil { p.tokenTokens -= tokens }
        p.lastStart = t
        return 0
    }

    private func refill(_ p: inout Pace, _ t: Double) {
        let elapsed = max(0, t - p.lastRefill)
        p.lastRefill = t
        if let rpm = requestsPerMinute { p.requestTokens = min(Double(rpm), p.requestTokens + elapsed * Double(rpm) / 60) }
        if let tpm = tokensPerMinute { p.tokenTokens = min(Double(tpm), p.tokenTokens + elapsed * Double(tpm) / 60) }
    }

    /// Corrects the token bucket by what a request really used.
    func settle(estimatedTokens: Int, actualTokens: Int) {
        guard tokensPerMinute != nil else { return }
        pace.withLock { $0.tokenTokens -= Double(actualTokens - estimatedTokens) }
    }

    /// The provider said 429: every request of this provider waits (at most `RetryHints.maxWait`).
    func pause(for seconds: Double) {
        guard let seconds = RetryHints.serverWait(seconds) else { return }
        let until = now + seconds
        pace.withLock { $0.pausedUntil = max($0.pausedUntil, until) }
    }

    /// Re-plans the pace from a response's rate-limit headers.
    func observe(_ info: RateLimitInfo, estimatedTokens: Int) {
        let t = now
        pace.withLock { p in
            var newSpacing = 0.0
            if let remaining = info.remainingRequests, let reset = RetryHints.serverWait(info.resetRequests) {
                if remaining <= 0 {
                    p.pausedUntil = max(p.pausedUntil, t + reset)
                } else if let limit = info.limitRequests, remaining * 10 < limit {
                    // Under 10% left: spread what is left over the time to the reset.
                    newSpacing = max(newSpacing, reset / Double(remaining))
                }
            }
            if let remaining = info.remainingTokens, let reset = RetryHints.serverWait(info.resetTokens) {
                if remaining < estimatedTokens {
                    p.pausedUntil = max(p.pausedUntil, t + reset)
                } else if let limit = info.limitTokens, remaining * 10 < limit, estimatedTokens > 0 {
                    newSpacing = max(newSpacing, reset / max(1, Double(remaining / estimatedTokens)))
                }
            }
            p.spacing = min(newSpacing, 60)
        }
    }
}

/// The run gave up waiting for a provider (`ProviderHealth`): its jobs stay pending.
struct ProviderUnreachable: Error, Sendable {
    let provider: String
    /// `connection refused at 127.0.0.1:9999`.
    let cause: String
}

/// One gate per provider, created on first use (a lock, not an actor: looked up by every job).
final class ProviderGates: Sendable {
    private struct Registry {
        var gates: [String: ProviderGate] = [:]
        var modelCaps: [String: AsyncSemaphore] = [:]
    }
    private let registry = Mutex(Registry())
    private let defaultRPM: Int?
    private let defaultTPM: Int?
    private let outagePolicy: ProviderHealth.Policy
    private let events: RunEvents?

    init(defaultRPM: Int?, defaultTPM: Int?, outagePolicy: ProviderHealth.Policy = .init(), events: RunEvents? = nil) {
        self.defaultRPM = defaultRPM
        self.defaultTPM = defaultTPM
        self.outagePolicy = outagePolicy
        self.events = events
    }

    /// The providers the run gave up waiting for.
    var givenUp: [ProviderOutage] {
        registry.withLock { Array($0.gates.values) }.compactMap(\.outage).filter(\.gaveUp).sorted { $0.provider < $1.provider }
    }

    /// The cap for `model` when the provider configures one for a pattern it matches.
    func modelCap(for provider: Provider, model: String) -> AsyncSemaphore? {
        guard !provider.modelConcurrency.isEmpty,
              let (pattern, limit) = provider.modelConcurrency.sorted(by: { $0.key < $1.key })
                .first(where: { Provider.matches(pattern: $0.key, model: model) }) else { return nil }
        let key = provider.name + "\u{0}" + pattern
        return registry.withLock { r in
            if let cap = r.modelCaps[key] { return cap }
            let cap = AsyncSemaphore(permits: limit)
            r.modelCaps[key] = cap
            return cap
        }
    }

    func gate(for provider: Provider) -> ProviderGate {
        registry.withLock { r in
            if let g = r.gates[provider.name] { return g }
            let g = ProviderGate(name: provider.name, maxConcurrency: provider.maxConcurrency,
                                 requestsPerMinute: provider.requestsPerMinute ?? defaultRPM,
                                 tokensPerMinute: provider.tokensPerMinute ?? defaultTPM,
                                 origin: Self.hostAndPort(provider.baseURL), outagePolicy: outagePolicy, events: events)
            r.gates[provider.name] = g
            return g
        }
    }

    /// `127.0.0.1:9999` of `http://127.0.0.1:9999/v1`: no scheme, path or credentials.
    static func hostAndPort(_ url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        return String(rest)
    }
}
