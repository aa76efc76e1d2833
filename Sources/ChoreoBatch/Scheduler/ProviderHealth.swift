import ChoreoAI

/// Whether one provider answers, as one run sees it (issue 12):
///
/// ```
/// healthy ──outage-kind failure──▶ suspect ──`threshold` in a row──▶ down ──probe answers──▶ healthy
///    ▲                                │ any answer                    │ past a limit
///    └────────────────────────────────┘                               ▼
///                                                                   gave up (for this run)
/// ```
///
/// Outage-kind failures are those `Failure.unreachable` names (connection refused, DNS, TLS, empty
/// reply, reset before any byte, 502/503/504/529, stalls). While down, requests wait, and one at a
/// time goes out as the probe, at growing intervals; the first answer brings the provider back.
///
/// A 429 is an answer, but only "later": the gate's pause spaces the requests, and a provider that
/// answers nothing but 429s for `outageLimit` (a daily quota spent, a limit shared with other
/// traffic that never frees) is given up in the same way, straight from up (`rateLimited`).
///
/// A value with no I/O and no clock (every event takes `now`), owned by its `ProviderGate` under
/// the gate's lock, so it is tested without a network or a sleep.
struct ProviderHealth: Sendable {
    struct Policy: Sendable {
        /// Outage-kind failures in a row, with no answer between, that make the provider down.
        var threshold = 3
        /// The first probe's delay after the provider went down; it doubles up to `maxProbeInterval`.
        var firstProbeInterval = 1.0
        var maxProbeInterval = 60.0
        /// Down longer than this: stop waiting (the jobs stay pending).
        var outageLimit = 15 * 60.0
        /// Not one answer this long after the provider's first request (a wrong base URL): stop waiting.
        var firstAnswerLimit = 60.0
    }

    /// An outage in progress (or given up).
    struct Outage: Sendable {
        /// When the failures began (the first of the run that made it down).
        var since: Double
        /// The latest failure's reason (`connection refused`).
        var reason: String
        var interval: Double
        var nextProbe: Double
        /// The probe in flight, if one is.
        var probe: Int?
    }

    enum State: Sendable {
        case healthy
        /// `streak` outage-kind failures in a row, the first at `since`.
        case suspect(streak: Int, since: Double)
        case down(Outage)
        /// Waited past a limit: no request goes out for the rest of the run.
        case gaveUp(Outage)
    }

    /// What a request may do now.
    enum Admission: Equatable {
        case go
        /// Go, as the probe with this id (report its end with the id).
        case probe(Int)
        /// Ask again in this many seconds.
        case wait(Double)
        case gaveUp
    }

    /// A state change: each is worth one log line.
    enum Change: Sendable {
        case down(Outage)
        case recovered(Outage)
        case gaveUp(Outage, neverAnswered: Bool)
    }

    let policy: Policy
    /// When the provider's first request was admitted (the gate's creation).
    let started: Double
    private(set) var state = State.healthy
    /// Whether the provider answered anything in this run.
    private(set) var answeredOnce = false
    /// When the 429s began that the provider has answered since its last other answer (nil: its
    /// last answer was not a 429).
    private(set) var rateLimitedSince: Double?
    private var probes = 0

    init(policy: Policy, started: Double) {
        self.policy = policy
        self.started = started
    }

    /// When waiting for `o` stops: the outage limit, or the first-answer limit while nothing answered.
    private func giveUpAt(_ o: Outage) -> Double {
        min(o.since + policy.outageLimit, answeredOnce ? .infinity : started + policy.firstAnswerLimit)
    }

    /// Whether a request may start now. Gives up (a change) once a limit passes while down.
    mutating func admit(now: Double) -> (Admission, Change?) {
        switch state {
        case .healthy, .suspect: return (.go, nil)
        case .gaveUp: return (.gaveUp, nil)
        case .down(var o):
            let end = giveUpAt(o)
            if now >= end {
                state = .gaveUp(o)
                return (.gaveUp, .gaveUp(o, neverAnswered: !answeredOnce))
            }
            if o.probe == nil && now >= o.nextProbe {
                probes += 1
                o.probe = probes
                state = .down(o)
                return (.probe(probes), nil)
            }
            // A probe in flight ends at no known time: ask again soon (its answer releases everyone).
            let until = o.probe == nil ? o.nextProbe : now + 0.25
            return (.wait(max(0.01, min(until, end) - now)), nil)
        }
    }

    /// The provider answered a request sent at `sentAt` (a response, whatever its status but an
    /// outage one). An answer to a request sent before the failures began says nothing about now
    /// (streams started earlier may still be finishing): it does not end them.
    mutating func answered(sentAt: Double) -> Change? {
        if let since = rateLimitedSince, sentAt >= since { rateLimitedSince = nil }
        return reached(sentAt: sentAt)
    }

    /// A 429 to a request sent at `sentAt`: the provider is reachable (as `answered` says), and has
    /// said only "later" since `rateLimitedSince`. Past `outageLimit` of that, it is given up.
    mutating func rateLimited(sentAt: Double, now: Double) -> Change? {
        let since = rateLimitedSince ?? now
        rateLimitedSince = since
        if let change = reached(sentAt: sentAt) { return change }
        guard now - since >= policy.outageLimit, isUp else { return nil }
        let o = Outage(since: since, reason: RequestFailure.rateLimitedReason, interval: 0, nextProbe: now)
        state = .gaveUp(o)
        return .gaveUp(o, neverAnswered: false)
    }

    /// The provider answered a request sent at `sentAt`: an outage it ends, if any.
    private mutating func reached(sentAt: Double) -> Change? {
        answeredOnce = true
        switch state {
        case .healthy, .gaveUp: return nil
        case .suspect(_, let since):
            if sentAt >= since { state = .healthy }
            return nil
        case .down(let o):
            guard sentAt >= o.since else { return nil }
            state = .healthy
            return .recovered(o)
        }
    }

    /// An outage-kind failure. `counts`: whether it uses up one of the job's attempts, which only
    /// the first failure after a healthy spell does (it may be a lone blip); the rest belong to
    /// the outage and do not.
    mutating func unreachable(reason: String, probe: Int?, now: Double) -> (counts: Bool, change: Change?) {
        switch state {
        case .healthy:
            state = .suspect(streak: 1, since: now)
            return (true, policy.threshold <= 1 ? goDown(since: now, reason: reason, now: now) : nil)
        case .suspect(let streak, let since):
            if streak + 1 >= policy.threshold { return (false, goDown(since: since, reason: reason, now: now)) }
            state = .suspect(streak: streak + 1, since: since)
            return (false, nil)
        case .down(var o):
            // Only the probe's failure moves the schedule; requests admitted before the provider
            // went down are still coming back.
            guard let probe, probe == o.probe else { return (false, nil) }
            o.probe = nil
            o.reason = reason
            o.interval = min(o.interval * 2, policy.maxProbeInterval)
            o.nextProbe = now + o.interval
            state = .down(o)
            return (false, nil)
        case .gaveUp:
            return (false, nil)
        }
    }

    private mutating func goDown(since: Double, reason: String, now: Double) -> Change {
        let o = Outage(since: since, reason: reason, interval: policy.firstProbeInterval, nextProbe: now + policy.firstProbeInterval)
        state = .down(o)
        return .down(o)
    }

    /// The probe ended without a verdict (cancelled, interrupted): the next request may probe.
    mutating func probeEnded(_ probe: Int) {
        guard case .down(var o) = state, o.probe == probe else { return }
        o.probe = nil
        state = .down(o)
    }

    /// The outage in progress or given up, for the progress line.
    var outage: Outage? {
        switch state {
        case .down(let o), .gaveUp(let o): return o
        case .healthy, .suspect: return nil
        }
    }

    /// Whether a request goes out without waiting for an outage (`admit` says `.go`).
    var isUp: Bool {
        switch state {
        case .healthy, .suspect: return true
        case .down, .gaveUp: return false
        }
    }

    var gaveUp: Bool { if case .gaveUp = state { return true } else { return false } }
}
