import ChoreoSQLite
/// How long the parts of one attempt took (schema v7, docs/schema-timings.md). Stored on the
/// attempt, and on the job for the attempt that finished it, so `choreo report` reads one row per
/// job. Every duration is in milliseconds; nil where the attempt never got that far.
public struct AttemptTimings: Sendable, Equatable {
    /// From the runner taking the job to its request going out: waiting for the model's cap and
    /// the provider's gate (rate limits, 429 pauses, outages). Time in the database queue before
    /// the claim is not counted: it depends on the job's place in the batch, not on anyone's speed.
    public var queueMs: Int?
    /// From the request going out to the response's status line and headers.
    public var headersMs: Int?
    /// From the request going out to the first chunk that carried output.
    public var firstTokenMs: Int?
    /// From the headers to the end of the body (or the attempt's end when it broke off).
    public var streamingMs: Int?
    /// Chunks received (output or not).
    public var chunks: Int?
    /// Gaps between reads that carried output, from the stream's histogram (`GapHistogram`):
    /// their number, p50 and p95 (to within 19%), the exact maximum and the count over 1 s.
    public var gaps: Int?
    public var gapP50Ms: Double?
    public var gapP95Ms: Double?
    public var gapMaxMs: Double?
    public var gapsOver1s: Int?
    /// Output tokens per second of streaming output, from the first output to the end.
    public var tokensPerSecond: Double?

    public init() {}

    /// The columns, in the order of `values` (the same names in `attempts` and `jobs`).
    static let columns = ["queue_ms", "headers_ms", "first_token_ms", "streaming_ms", "chunks", "gaps",
                          "gap_p50_ms", "gap_p95_ms", "gap_max_ms", "gaps_over_1s", "tokens_per_s"]

    /// `column = ?, …` for an UPDATE, to bind with `values`.
    static let assignments = columns.map { "\($0) = ?" }.joined(separator: ", ")

    /// The same for `jobs`, which had `first_token_ms` before (written with the job's outcome).
    static let jobAssignments = columns.filter { $0 != "first_token_ms" }.map { "\($0) = ?" }.joined(separator: ", ")

    /// `values` without `first_token_ms`, for `jobAssignments`.
    var jobValues: [SQLValue] {
        var v = values
        v.remove(at: Self.firstTokenPosition)
        return v
    }

    private static let firstTokenPosition = columns.firstIndex(of: "first_token_ms")!

    var values: [SQLValue] {
        [.init(queueMs), .init(headersMs), .init(firstTokenMs), .init(streamingMs), .init(chunks), .init(gaps),
         .init(gapP50Ms), .init(gapP95Ms), .init(gapMaxMs), .init(gapsOver1s), .init(tokensPerSecond)]
    }
}
