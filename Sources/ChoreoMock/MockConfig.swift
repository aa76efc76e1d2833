/// How a `MockServer` behaves: pacing, random fault injection and reply length.
///
/// Random faults are reproducible: whether an attempt gets one, which kind and after how many
/// chunks is a pure function of `(seed, request key, attempt number)`, so a failing run can be
/// replayed exactly.
public struct MockConfig: Sendable {
    /// Pause between streamed chunks.
    public var chunkDelay: Duration
    /// Probability (0...1) that an attempt gets a random fault.
    public var faultRate: Double
    /// The kinds random faults pick from.
    public var faultKinds: [MockFault.Kind]
    /// A request (see `MockContent.requestKey`) gets random faults on at most its first N attempts,
    /// so a client that retries always gets through eventually.
    public var maxFaultsPerRequest: Int
    /// Seed of the random fault schedule.
    public var seed: UInt64
    /// What 429 responses ask the client to wait, in milliseconds.
    public var retryAfterMs: Int
    /// If set, every reply has exactly this many tokens, whatever `max_tokens` says (benchmarks).
    public var fixedTokens: Int?
    /// If set, random stream faults strike after exactly this many content chunks instead of a
    /// random position (tests that walk every cut point).
    public var faultAfterChunks: Int?

    /// The kinds random faults use by default: the transient ones a client must survive.
    public static let defaultFaultKinds: [MockFault.Kind] = [.drop, .rateLimit, .serverError, .stall, .malformed]

    public init(
        chunkDelay: Duration = .zero,
        faultRate: Double = 0,
        faultKinds: [MockFault.Kind] = MockConfig.defaultFaultKinds,
        maxFaultsPerRequest: Int = 2,
        seed: UInt64 = 0,
        retryAfterMs: Int = 200,
        fixedTokens: Int? = nil,
        faultAfterChunks: Int? = nil
    ) {
        self.chunkDelay = chunkDelay
        self.faultRate = faultRate
        self.faultKinds = faultKinds
        self.maxFaultsPerRequest = maxFaultsPerRequest
        self.seed = seed
        self.retryAfterMs = retryAfterMs
        self.fixedTokens = fixedTokens
        self.faultAfterChunks = faultAfterChunks
    }
}

extension MockConfig {
    /// The random fault for attempt `attempt` of the request with `key`, if it gets one.
    /// `contentChunks` bounds where a stream fault strikes.
    func randomFault(key: UInt64, attempt: Int, contentChunks: Int) -> MockFault? {
        guard faultRate > 0, !faultKinds.isEmpty, attempt <= maxFaultsPerRequest else { return nil }
        var h = FNV1a()
        h.combine(seed)
        h.combine(key)
        h.combine(UInt64(attempt))
        var rng = MockRandom(seed: h.value)
        guard rng.unit() < faultRate else { return nil }
        let kind = faultKinds[rng.below(faultKinds.count)]
        return MockFault(kind: kind, afterChunks: faultAfterChunks ?? rng.below(max(1, contentChunks)))
    }
}
