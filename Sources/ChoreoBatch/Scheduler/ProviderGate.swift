import ChoreoAI
import Foundation
import ChoreoLocking

/// Paces one provider's requests: a concurrency cap, request and token budgets per minute, and a
/// shared pause when the provider says slow down.
///
/// The budgets and the pauses are shared by every runner on the database (`ProviderBudgets`,
/// issue 15): the gate takes permits from the provider's buckets in the database in blocks (as
/// many as requests wait here, at most a second's worth) and keeps them at most a second, so what
/// it knows of other runners' pauses is never older than that. A 429 pauses the whole provider
/// (every job of every runner), not just the one that got it. So does an outage
/// (`ProviderHealth`): while the provider is down, one request at a time goes out as the probe,
/// and the other runners wait for its answer.
///
/// Better than a fixed cool-down: every response's `x-ratelimit-remaining-*` / `-reset-*` headers
/// (`observe`) re-plan the pace continuously: when the remaining budget runs low, requests are
/// spread over the time left until the reset instead of bursting into a 429. (Every runner reads
/// them in its own responses, so this pacing stays the runner's own.)
///
/// A class with its state under a lock, not an actor: every job passes through it three times
/// (admit, observe, settle), and an actor hop each time was measurable on short jobs.
final class ProviderGate: Sendable {
    let name: String
    /// The provider's key in the shared budgets: its name and host (`PermitAsk.provider`).
    let key: String
    private let concurrency: AsyncSemaphore?
    private let requestsPerMinute: Int?
    private let tokensPerMinute: Int?
    private let budgets: any ProviderBudgets

    /// How long permits taken from the budgets, and what the budgets said of pauses, hold.
    static let grantLifetime = 1.0

    private struct Pace {
        /// Permits in hand, taken from the budgets. Tokens may be below zero: requests that used
        /// more than their estimate owe the difference, paid with the next permits taken.
        var requests = 0.0
        var tokens = 0.0
        /// The permits in hand and the shared pauses below are as the budgets said until then.
        var freshUntil = 0.0
        /// No request starts before this (a 429's retry-after, an exhausted header budget).
        var pausedUntil = 0.0
        /// Another runner found the provider down and probes it: only a probe starts before this.
        var unreachableUntil = 0.0
        /// The budgets held too little: no take before this.
        var nextTake = 0.0
        /// The take in flight, which every request waiting for permits awaits.
        var take: Task<Void, Never>?
        /// Requests waiting for permits and their tokens: what the next take asks for.
        var waiting = 0
        var waitingTokens = 0.0
        /// Minimum spacing between request starts derived from the headers (0: none).
        var spacing = 0.0
        var lastStart = 0.0
        /// The notice being shared, which the next one waits for: notices reach the database in
        /// the order they happened (an outage's end never before its start).
        var sharing: Task<Void, Never>?
    }
    private let pace = Locked(Pace())
    private let health: Locked<ProviderHealth>
    /// Host and port of the provider, for outage messages.
    let origin: String
    private let events: RunEvents?

    init(name: String, maxConcurrency: Int?, requestsPerMinute: Int?, tokensPerMinute: Int?,
         origin: String = "", outagePolicy: ProviderHealth.Policy = .init(), events: RunEvents? = nil,
         budgets: any ProviderBudgets = LocalProviderBudgets()) {
        self.name = name
        self.key = origin.isEmpty ? name : "\(name)@\(origin)"
        self.concurrency = maxConcurrency.map { AsyncSemaphore(permits: max(1, $0)) }
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.budgets = budgets
        self.health = Locked(ProviderHealth(policy: outagePolicy, started: Date().timeIntervalSince1970))
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
            try await takePermit(tokens: Double(estimatedTokens), probe: probe != nil)
            return probe
        } catch {
            if let probe { finished(probe: probe, permit: false) }
            concurrency?.release()
            throw error
        }
    }

    /// `admit` when nothing is to be waited for: the provider is up, a concurrency permit is free,
    /// and the permits in hand let the request go now. False (nothing taken) when any of them would
    /// wait, or the budgets must be asked first: `admit` then. True: give the permit back with
    /// `finished`, as after `admit`.
    func admitNow(estimatedTokens: Int) -> Bool {
        if let concurrency, !concurrency.tryAcquire() { return false }
        let t = now
        let up = health.withLock { $0.isUp }
        if up, pace.withLock({ fromHand(&$0, tokens: Double(estimatedTokens), probe: false, at: t) }) == .go { return true }
        concurrency?.release()
        return false
    }

    /// `admitNow(estimatedTokens:)` behind the request's model's cap, when its provider sets one:
    /// both let it go now (give both back when it ends), or nothing is taken.
    func admitNow(estimatedTokens: Int, modelCap: AsyncSemaphore?) -> Bool {
        if let modelCap, !modelCap.tryAcquire() { return false }
        guard admitNow(estimatedTokens: estimatedTokens) else {
            modelCap?.release()
            return false
        }
        return true
    }

    /// `admit(estimatedTokens:)` behind the request's model's cap: waits for the cap (when its
    /// provider sets one), then for this gate; both held on return (give both back when it ends).
    /// On an error (the run stopping, `ProviderUnreachable`) nothing is held.
    func admit(estimatedTokens: Int, modelCap: AsyncSemaphore?) async throws -> Int? {
        try await modelCap?.acquire()
        do {
            return try await admit(estimatedTokens: estimatedTokens)
        } catch {
            modelCap?.release()
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

    /// The provider answered a request sent at `sentAt` with a 429: reachable, but only "later".
    /// Nothing but 429s for the outage limit gives it up (`ProviderHealth.rateLimited`).
    func rateLimited(sentAt: Double) {
        let (change, outage) = health.withLock { h in
            let c = h.rateLimited(sentAt: sentAt, now: now)
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
            holdOtherRunners(outage)
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

    /// While this runner probes a provider that is down, the other runners on the database send
    /// nothing to it: until one probe interval after its next probe, which a failed probe extends
    /// and an answer or giving up ends (`.outageEnded`). If this runner dies or stops meanwhile,
    /// the pause runs out by itself (within two probe intervals, at most two minutes).
    private func holdOtherRunners(_ o: ProviderHealth.Outage) {
        share(.unreachable(seconds: max(0, o.nextProbe - now) + o.interval))
    }

    /// One log line per state change; the other runners on the database hear of an outage's
    /// beginning and end.
    private func report(_ change: ProviderHealth.Change, outage: ProviderHealth.Outage?) {
        switch change {
        case .down(let o):
            holdOtherRunners(o)
            let outage = snapshot(o, gaveUp: false, neverAnswered: !health.withLock { $0.answeredOnce })
            events?.provider(name, outage: outage, log: (.warning,
                "provider \(name) unreachable (\(o.reason) at \(origin)): pausing its jobs; probing with one request from \(String(format: "%g", o.interval)) s on"
                + (outage.queueHint.map { "; \($0)" } ?? "")))
        case .recovered(let o):
            pace.withLock { $0.unreachableUntil = 0 }
            share(.outageEnded)
            events?.provider(name, outage: nil, log: (.info,
                "provider \(name) answered again after \(ProviderOutage.clock(now - o.since)): resuming its jobs"))
        case .gaveUp(let o, let neverAnswered):
            share(.outageEnded)
            let outage = snapshot(o, gaveUp: true, neverAnswered: neverAnswered)
            let why = neverAnswered ? "it never answered in this run" : "\(outage.standing()), past --outage-limit"
            events?.provider(name, outage: outage, log: (.error,
                "provider \(name) (\(o.reason) at \(origin)): \(why); stopped waiting, its jobs stay pending"))
        }
    }

    /// Returns once the notices shared so far are written (or failed to be): the run awaits it
    /// before it ends, so that a process exiting right after does not lose them.
    func noticesShared() async {
        await pace.withLock { $0.sharing }?.value
    }

    /// What a request waiting for permits does next.
    private enum Step: Equatable {
        case go
        case wait(Double)
        /// Wait for the take in flight, then look again.
        case take(Task<Void, Never>)
    }

    /// Waits for the permits of one request of `tokens` and takes them.
    private func takePermit(tokens: Double, probe: Bool) async throws {
        pace.withLock { p in
            p.waiting += 1
            p.waitingTokens += tokens
        }
        defer {
            pace.withLock { p in
                p.waiting -= 1
                p.waitingTokens -= tokens
            }
        }
        while true {
            try Task.checkCancellation()
            switch pace.withLock({ step(&$0, tokens: tokens, probe: probe) }) {
            case .go: return
            case .wait(let seconds): try await Task.sleep(nanoseconds: UInt64(min(seconds, 60) * 1e9))
            case .take(let take): await take.value
            }
        }
    }

    /// Takes the permits of one request from those in hand, or says what to wait for. Waits never
    /// outlast what the budgets said (`freshUntil`): a pause another runner ends or extends is
    /// learned by the next take.
    private func step(_ p: inout Pace, tokens: Double, probe: Bool) -> Step {
        let t = now
        if let step = fromHand(&p, tokens: tokens, probe: probe, at: t) { return step }
        if let take = p.take { return .take(take) }
        if p.nextTake > t { return .wait(p.nextTake - t) }
        let ask = ask(p, tokens: tokens, probe: probe)
        let take = Task { await self.refill(ask) }
        p.take = take
        return .take(take)
    }

    /// The permits in hand, while they are fresh: `.go` with the request's taken, or `.wait` for a
    /// pause; nil when the budgets must be asked (the permits are stale, or too few).
    private func fromHand(_ p: inout Pace, tokens: Double, probe: Bool, at t: Double) -> Step? {
        guard t < p.freshUntil else {
            // Permits are good for a second; a debt stays.
            p.requests = 0
            p.tokens = min(p.tokens, 0)
            return nil
        }
        var wait = max(p.pausedUntil - t, p.lastStart + p.spacing - t)
        if !probe { wait = max(wait, p.unreachableUntil - t) }
        if wait > 0 { return .wait(min(wait, p.freshUntil - t)) }
        let need = tokensPerMinute.map { min(tokens, Double($0)) } ?? 0
        guard (requestsPerMinute == nil || p.requests >= 1) && (tokensPerMinute == nil || p.tokens >= need) else { return nil }
        if requestsPerMinute != nil { p.requests -= 1 }
        if tokensPerMinute != nil { p.tokens -= tokens }
        p.lastStart = t
        return .go
    }

    /// What to take for the requests waiting now: one permit each, at most a second's worth, and
    /// the tokens the next one needs beyond those in hand (its debt included).
    private func ask(_ p: Pace, tokens: Double, probe: Bool) -> PermitAsk {
        let perSecond = requestsPerMinute.map { Int((Double($0) / 60).rounded(.up)) } ?? 0
        let need = tokensPerMinute.map { min(tokens, Double($0)) } ?? 0
        let tokensPerSecond = tokensPerMinute.map { Double($0) / 60 } ?? 0
        return PermitAsk(provider: key, requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute,
                         requests: requestsPerMinute == nil ? 0 : max(1, min(p.waiting, perSecond) - Int(p.requests)),
                         tokensNeeded: tokensPerMinute == nil ? 0 : max(0, need - p.tokens),
                         tokensWanted: tokensPerMinute == nil ? 0 : max(need, min(p.waitingTokens, tokensPerSecond)) - p.tokens,
                         probe: probe)
    }

    /// One take from the budgets, for every request waiting.
    private func refill(_ ask: PermitAsk) async {
        let grant: PermitGrant
        do {
            grant = try await budgets.takePermits(ask)
        } catch {
            // The database did not answer (busy, unreachable, full): no request goes without
            // permits; the next take is in a second.
            let t = now
            pace.withLock { p in
                p.take = nil
                p.nextTake = t + Self.grantLifetime
            }
            return
        }
        let t = now
        pace.withLock { p in
            p.take = nil
            if t >= p.freshUntil {
                p.requests = 0
                p.tokens = min(p.tokens, 0)
            }
            p.requests += Double(grant.requests)
            p.tokens += grant.tokens
            p.freshUntil = t + Self.grantLifetime
            p.nextTake = grant.granted ? 0 : t + grant.retryIn
            p.pausedUntil = max(p.pausedUntil, t + grant.rateLimitedFor)
            p.unreachableUntil = t + grant.unreachableFor
        }
    }

    /// Records `notice` for every runner on the database, after the notices before it. A notice
    /// that cannot be written is dropped: this runner heeds it anyway, and the others find the
    /// provider's state themselves.
    private func share(_ notice: ProviderNotice) {
        pace.withLock { p in
            p.sharing = Task { [previous = p.sharing, budgets, key] in
                await previous?.value
                try? await budgets.share(notice, provider: key)
            }
        }
    }

    /// Corrects the tokens in hand by what a request really used: a request that used more than
    /// its estimate leaves a debt, paid with the next permits taken from the budget.
    func settle(estimatedTokens: Int, actualTokens: Int) {
        guard tokensPerMinute != nil else { return }
        pace.withLock { $0.tokens -= Double(actualTokens - estimatedTokens) }
    }

    /// The provider said 429: every request of this provider waits (at most `RetryHints.maxWait`),
    /// in every runner on the database.
    func pause(for seconds: Double) {
        guard let seconds = RetryHints.serverWait(seconds) else { return }
        let until = now + seconds
        pace.withLock { $0.pausedUntil = max($0.pausedUntil, until) }
        share(.rateLimited(seconds: seconds))
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
    private let registry = Locked(Registry())
    private let defaultRPM: Int?
    private let defaultTPM: Int?
    private let outagePolicy: ProviderHealth.Policy
    private let events: RunEvents?
    /// Where the gates share budgets and pauses with the other runners: the run's store.
    private let budgets: any ProviderBudgets

    init(defaultRPM: Int?, defaultTPM: Int?, outagePolicy: ProviderHealth.Policy = .init(), events: RunEvents? = nil,
         budgets: any ProviderBudgets = LocalProviderBudgets()) {
        self.defaultRPM = defaultRPM
        self.defaultTPM = defaultTPM
        self.outagePolicy = outagePolicy
        self.events = events
        self.budgets = budgets
    }

    /// Returns once every gate's notices to the other runners are written (`ProviderGate.noticesShared`).
    func noticesShared() async {
        for gate in registry.withLock({ Array($0.gates.values) }) { await gate.noticesShared() }
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
                                 origin: Self.hostAndPort(provider.baseURL), outagePolicy: outagePolicy, events: events,
                                 budgets: budgets)
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
