public import ChoreoAI
import ChoreoSQLite

/// `choreo estimate`: what a job file, or the jobs a batch has left, would cost, per model and in
/// total, as low / expected / high. Spends nothing. The method (docs/cost.md):
///
/// - prompt tokens: the request's JSON bytes times a
///   ratio: 1 token per 4 bytes, or, once this database has finished single-attempt jobs of the
///   model (`calibrationMinimum`), their reported prompt tokens per byte;
/// - output tokens: expected is the mean output of those finished jobs (capped by the job's
///   `max_tokens`), else half of `max_tokens` (or Anthropic's default); low is one token; high is
///   `max_tokens`. No bound: high (and, uncalibrated, expected) is unknown;
/// - high is also what `--budget` reserves: the prompt at one token per byte at the dearest
///   prompt rate, plus `max_tokens` of output.
public struct CostEstimate: Sendable {
    public struct Row: Sendable {
        public var model: String
        public var jobs = 0
        /// Expected prompt tokens, summed.
        public var promptTokens = 0
        /// Jobs with no output bound (no `max_tokens`, no provider default).
        public var unbounded = 0
        /// Finished jobs of the model this estimate is calibrated by (0: the 4-bytes rule).
        public var calibratedBy = 0
        /// USD; nil when unknown (no price, or no bound for `high`).
        public var low: Double? = 0
        public var expected: Double? = 0
        public var high: Double? = 0
    }

    /// What finished jobs of one model say: prompt tokens per request byte, mean output tokens.
    /// A job to price: its model, request body and endpoint.
    public typealias Job = (model: String, body: JSONValue, endpoint: JobEndpoint)

    public struct Calibration: Sendable {
        public var jobs: Int
        public var promptTokensPerByte: Double
        public var meanCompletionTokens: Double
    }

    /// Fewer finished jobs than this leave the default ratio in place.
    public static let calibrationMinimum = 3
    /// "About 4 characters a token", applied to the request's JSON bytes.
    public static let defaultTokensPerByte = 0.25

    public var rows: [Row]

    public var total: Row {
        var t = Row(model: "total")
        for r in rows {
            t.jobs += r.jobs
            t.promptTokens += r.promptTokens
            t.unbounded += r.unbounded
            t.low = t.low.flatMap { a in r.low.map { a + $0 } }
            t.expected = t.expected.flatMap { a in r.expected.map { a + $0 } }
            t.high = t.high.flatMap { a in r.high.map { a + $0 } }
        }
        return t
    }

    /// The estimate for `jobs` (model, request body, endpoint), with `kind` telling each model's
    /// wire format. An embeddings job has no output: its prompt is all it costs.
    public init(jobs: [(model: String, body: JSONValue, endpoint: JobEndpoint)], calibration: [String: Calibration], prices: PriceTable,
                kind: (String) -> ProviderKind?) {
        var byModel: [String: Row] = [:]
        for (model, body, endpoint) in jobs {
            let embeddings = endpoint == .embeddings
            var row = byModel[model] ?? Row(model: model)
            let price = prices.price(for: model)
            let cal = calibration[model].flatMap { $0.jobs >= Self.calibrationMinimum ? $0 : nil }
            let bytes = RequestBounds.promptTokens(body)
            let prompt = Int((Double(bytes) * (cal?.promptTokensPerByte ?? Self.defaultTokensPerByte)).rounded(.up))
            let bound = embeddings ? 0 : kind(model).flatMap { RequestBounds.completionTokens(body, provider: $0) }
                ?? body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue ?? body["max_output_tokens"]?.intValue
            let expectedOutput: Double? = embeddings ? 0 : cal.map { c in bound.map { min(Double($0), c.meanCompletionTokens) } ?? c.meanCompletionTokens }
                ?? bound.map { Double($0) / 2 }
            row.jobs += 1
            row.promptTokens += prompt
            row.calibratedBy = cal?.jobs ?? 0
            if bound == nil { row.unbounded += 1 }
            func add(_ sum: Double?, _ amount: Double?) -> Double? { sum.flatMap { s in amount.map { s + $0 } } }
            row.low = add(row.low, price.map { (Double(prompt) * $0.input + (embeddings ? 0 : $0.output)) / 1_000_000 })
            row.expected = add(row.expected, price.flatMap { p in expectedOutput.map { (Double(prompt) * p.input + $0 * p.output) / 1_000_000 } })
            row.high = add(row.high, price.flatMap { p in bound.map { p.worstCase(promptTokens: bytes, completionTokens: $0) } })
            byModel[model] = row
        }
        rows = byModel.values.sorted { $0.model < $1.model }
    }

    /// Calibration from this database's succeeded single-attempt jobs (a continued job's prompt
    /// counts several requests), per model.
    /// The calibration query: per model, finished single-attempt jobs, their prompt tokens, the
    /// bytes of their requests (`requestBytes`: the backend's spelling of the stored request's
    /// length) and their mean output. Read by `calibration(row:)`.
    static func calibrationQuery(requestBytes: String) -> String {
        """
        SELECT j.model, count(*), sum(j.prompt_tokens), sum(\(requestBytes)), avg(j.completion_tokens)
        FROM jobs j JOIN job_requests r ON r.job_id = j.id
        WHERE j.state = 'succeeded' AND j.attempts = 1 AND j.prompt_tokens IS NOT NULL AND j.completion_tokens IS NOT NULL
        GROUP BY j.model
        """
    }

    static func calibration(row: some StoreRow, into out: inout [String: Calibration]) {
        let bytes = row.double(3) ?? 0
        guard bytes > 0 else { return }
        out[row.string(0) ?? ""] = Calibration(jobs: row.int(1) ?? 0, promptTokensPerByte: (row.double(2) ?? 0) / bytes,
                                                meanCompletionTokens: row.double(4) ?? 0)
    }

    /// The jobs-left query (the batch id is `$1`), read by `job(row:)`.
    static let jobsLeftQuery = """
        SELECT j.model, r.request, j.url FROM jobs j JOIN job_requests r ON r.job_id = j.id
        WHERE j.batch_id = $1 AND j.state IN ('pending', 'running') ORDER BY j.id
        """

    static func job(row: some StoreRow) -> Job {
        (row.string(0) ?? "", (try? JSONValue.parse(Array((row.string(1) ?? "{}").utf8))) ?? [:], JobEndpoint(stored: row.string(2)))
    }

    /// The valid lines of a job file, as (model, body); the invalid ones are counted, not priced.
    public static func jobs(inFile path: String) throws -> (jobs: [Job], invalidLines: Int) {
        var reader = try JobFileReader(path: path)
        let validator = JobLineValidator()
        var out: [Job] = []
        var invalid = 0
        while let item = try reader.next() {
            switch item {
            case .rejected: invalid += 1
            case .line(let number, let bytes):
                switch validator.validate(line: number, bytes: bytes) {
                case .success(let job): out.append((job.model, (try? JSONValue.parse(Array(job.requestText.utf8))) ?? [:], job.endpoint))
                case .failure: invalid += 1
                }
            }
        }
        return (out, invalid)
    }

    public var json: JSONValue {
        func usd(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
        func object(_ r: Row) -> JSONValue {
            ["model": .string(r.model), "jobs": .int(Int64(r.jobs)), "prompt_tokens": .int(Int64(r.promptTokens)),
             "unbounded_jobs": .int(Int64(r.unbounded)), "calibrated_by_jobs": .int(Int64(r.calibratedBy)),
             "low_usd": usd(r.low), "expected_usd": usd(r.expected), "high_usd": usd(r.high)]
        }
        return ["models": .array(rows.map(object)), "total": object(total)]
    }

    public func rendered() -> String {
        let header = ["model", "jobs", "prompt tokens", "low", "expected", "high", "method"]
        let lines = rows.map { r in
            [r.model, BatchStatus.grouped(r.jobs), BatchStatus.grouped(r.promptTokens), Money.usd(r.low), Money.usd(r.expected),
             Money.usd(r.high),
             (r.calibratedBy > 0 ? "calibrated by \(r.calibratedBy) finished jobs" : "4 bytes a token")
                + (r.unbounded > 0 ? "; \(r.unbounded) jobs without max_tokens" : "")]
        }
        let t = total
        let totalLine = ["total", BatchStatus.grouped(t.jobs), BatchStatus.grouped(t.promptTokens), Money.usd(t.low),
                         Money.usd(t.expected), Money.usd(t.high), ""]
        return TextTable.render([header] + lines + [totalLine], indent: "")
    }
}
