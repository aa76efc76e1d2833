/// What the runners on one database share about each provider (issue 15): its request and token
/// budget (`rpm`, `tpm`), and the pauses one runner learns of (a 429, an outage) that must hold
/// every runner's requests. Without it each runner applied the whole limit alone, and three
/// runners sent three times the provider's limit. `JobStore` refines it: `JobQueue` keeps the
/// budgets in its SQLite file, `PostgresJobStore` in its database (table `provider_budgets`).
///
/// ## Token buckets in a table, not leases on rate
/// Each provider has one row: a bucket of requests and one of tokens, each holding at most a
/// minute's budget and refilled continuously, as the provider's own limiter does. A runner takes
/// permits out of it in a transaction (`takePermits`). The alternative, each runner leasing a
/// share of the rate for a while, was turned down: a share is wasted whenever its runner has less
/// to send than its share (the queue's tail, a runner waiting out an outage), the shares must be
/// recomputed whenever a runner comes or goes, and a runner that dies holds its share until its
/// lease ends. A bucket needs no membership: it hands out only what is asked for, to any number
/// of runners, and one that dies takes nothing more.
///
/// ## Blocks, so that one runner stays cheap
/// A runner does not take one permit per request: its `ProviderGate` asks for as many as it has
/// requests waiting, at most a second's worth, and keeps them at most a second. Its pause
/// information is as old as its last take, so at most a second too. One take a second per
/// provider while it sends, whatever the request rate. The cost in precision: permits taken and
/// not used within their second (their requests were cancelled) are lost to every runner, so the
/// runners together may stay below the limit by up to a second's worth per runner; they never go
/// above it.
///
/// Times cross the interface as durations, measured on the store's clock (PostgreSQL's own for a
/// PostgreSQL store): runners on machines whose clocks disagree still share one bucket.
public protocol ProviderBudgets: Sendable {
    /// Refills `ask.provider`'s buckets for the time since the last take, then takes what `ask`
    /// asks for, in one transaction. Takes nothing when the provider is paused, or when the
    /// buckets hold less than the next request needs (the grant says how long until they do).
    func takePermits(_ ask: PermitAsk) async throws -> PermitGrant
    /// Records, for every runner on the database, what this one learned of `provider` (its key,
    /// as in `PermitAsk`). A pause is never shortened by a shorter one.
    func share(_ notice: ProviderNotice, provider: String) async throws
}

/// What a runner asks one provider's budget for (`ProviderBudgets.takePermits`).
public struct PermitAsk: Sendable, Equatable {
    /// The provider's key: its name and host (`openai@api.openai.com`), so that two runners whose
    /// configurations give the name `openai` to different hosts do not share a budget.
    public var provider: String
    /// The limits, as this runner's configuration gives them (nil: none); the bucket holds a
    /// minute's budget and refills at the limit's rate. Runners sharing a provider should agree.
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    /// Request permits wanted (at least one is given, or none).
    public var requests: Int
    /// Token permits the next request cannot go without, and the most wanted.
    public var tokensNeeded: Double
    public var tokensWanted: Double
    /// The request is the probe of an outage: the outage pause does not hold it.
    public var probe: Bool

    public init(provider: String, requestsPerMinute: Int?, tokensPerMinute: Int?, requests: Int, tokensNeeded: Double,
                tokensWanted: Double, probe: Bool = false) {
        self.provider = provider
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.requests = requests
        self.tokensNeeded = tokensNeeded
        self.tokensWanted = tokensWanted
        self.probe = probe
    }
}

/// What a take gave (`ProviderBudgets.takePermits`), and the provider's pauses as of it.
public struct PermitGrant: Sendable, Equatable {
    /// Whether permits were given: false while a pause holds the request, or while the buckets
    /// hold too little (then `retryIn` says for how long).
    public var granted = false
    public var requests = 0
    public var tokens = 0.0
    /// Seconds until the buckets hold what the next request needs (0 unless too little was there).
    public var retryIn = 0.0
    /// Seconds left of the pause a 429 asked for (0: none).
    public var rateLimitedFor = 0.0
    /// Seconds left of the pause of a runner that found the provider down and probes it (0: none).
    public var unreachableFor = 0.0

    public init() {}
}

/// What one runner learned of a provider that every runner must heed (`ProviderBudgets.share`).
public enum ProviderNotice: Sendable, Equatable {
    /// The provider answered 429: no runner sends to it for `seconds`.
    case rateLimited(seconds: Double)
    /// A runner found the provider down and probes it: the others send nothing for `seconds`
    /// (extended while its probes fail).
    case unreachable(seconds: Double)
    /// That runner stopped probing: the provider answered, or the runner gave up waiting for it
    /// (a pause nobody probes behind would only delay the others). The outage pause ends.
    case outageEnded
}

/// One provider's row of `provider_budgets`, and the arithmetic of a take: a value with no I/O
/// and no clock (every call takes `now`), so both stores run the same rules and the rules are
/// tested without a database.
struct ProviderBudget: Sendable, Equatable {
    /// Permits in the buckets at `refilledAt`; nil: full (never taken, or the limit is new).
    /// Tokens may be below zero: a request larger than a whole bucket went once it was full.
    var requests: Double?
    var tokens: Double?
    var refilledAt: Double
    /// No request before these (seconds since 1970, on the store's clock; 0: none).
    var rateLimitedUntil = 0.0
    var unreachableUntil = 0.0

    /// A row for a provider nobody took from yet: full buckets, no pause.
    init(now: Double) { refilledAt = now }

    init(requests: Double?, tokens: Double?, refilledAt: Double, rateLimitedUntil: Double, unreachableUntil: Double) {
        self.requests = requests
        self.tokens = tokens
        self.refilledAt = refilledAt
        self.rateLimitedUntil = rateLimitedUntil
        self.unreachableUntil = unreachableUntil
    }

    /// Whether a take of `ask` can change the row (one with no limit only reads the pauses).
    static func writes(_ ask: PermitAsk) -> Bool { ask.requestsPerMinute != nil || ask.tokensPerMinute != nil }

    /// Refills the buckets for the time since `refilledAt`, then takes what `ask` asks for.
    mutating func take(_ ask: PermitAsk, now: Double) -> PermitGrant {
        let elapsed = max(0, now - refilledAt)
        refilledAt = now
        if let rpm = ask.requestsPerMinute.map(Double.init) { requests = min(rpm, (requests ?? rpm) + elapsed * rpm / 60) }
        if let tpm = ask.tokensPerMinute.map(Double.init) { tokens = min(tpm, (tokens ?? tpm) + elapsed * tpm / 60) }
        var grant = PermitGrant()
        grant.rateLimitedFor = max(0, rateLimitedUntil - now)
        grant.unreachableFor = max(0, unreachableUntil - now)
        if grant.rateLimitedFor > 0 || (grant.unreachableFor > 0 && !ask.probe) { return grant }
        // A request larger than a minute's budget goes once the bucket is full.
        let needed = min(max(0, ask.tokensNeeded), Double(ask.tokensPerMinute ?? 0))
        if let rpm = ask.requestsPerMinute, let r = requests, r < 1 { grant.retryIn = (1 - r) * 60 / Double(rpm) }
        if let tpm = ask.tokensPerMinute, let k = tokens, k < needed { grant.retryIn = max(grant.retryIn, (needed - k) * 60 / Double(tpm)) }
        if grant.retryIn > 0 { return grant }
        if ask.requestsPerMinute != nil, let r = requests {
            grant.requests = min(Int(r), max(1, ask.requests))
            requests = r - Double(grant.requests)
        }
        if ask.tokensPerMinute != nil, let k = tokens {
            grant.tokens = max(max(0, ask.tokensNeeded), min(max(0, k), ask.tokensWanted))
            tokens = k - grant.tokens
        }
        grant.granted = true
        return grant
    }

    mutating func note(_ notice: ProviderNotice, now: Double) {
        switch notice {
        case .rateLimited(let seconds): rateLimitedUntil = max(rateLimitedUntil, now + seconds)
        case .unreachable(let seconds): unreachableUntil = max(unreachableUntil, now + seconds)
        case .outageEnded: unreachableUntil = 0
        }
    }
}
