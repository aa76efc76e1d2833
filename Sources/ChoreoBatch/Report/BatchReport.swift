import Foundation
public import ChoreoSQLite

/// What `choreo report` draws for one batch, aggregated into bins: whatever the number of jobs,
/// the page holds a fixed number of points per chart (never one element per job). One pass over
/// the batch's jobs and one over its attempts.
public struct BatchReport: Sendable {
    /// The same value `status` prints, so the cards and `status --json` agree by construction.
    public var status: BatchStatus
    /// The time axis: `bins` equal bins from the first start to the last finish.
    public var start: Double
    public var binSeconds: Double
    public var completions: [Double]
    /// Output tokens per second, per bin.
    public var tokensPerSecond: [Double]
    /// Streams in flight at the end of each bin.
    public var inFlight: [Double]
    /// What the batch had cost by the end of each bin (every ended attempt's `cost_usd`, by its
    /// end), in USD; nil when some attempt's model has no price (the cost is unknown then).
    public var cumulativeCost: [Double]?
    /// Attempts that did not succeed, by kind (the most frequent kinds; the rest as "other").
    public var failuresByKind: [(kind: String, counts: [Double])]
    /// Bins with a 429 (a rate-limit pause) and with an unreachable provider (an outage).
    public var rateLimitedBins: Set<Int>
    public var outageBins: Set<Int>
    public var models: [ModelStats]
    public var slowest: [JobRow]
    public var failed: [JobRow]
    public var failedTotal: Int
    /// Each linked job's text and attempt history (`choreo show`), by job id.
    public var details: [(id: Int64, text: String)]
    /// The batch's total cost over every attempt (`BatchStatus.costUSD`); nil
    /// otherwise. Pricing is not computed here.
    public var cost: Double?

    public struct JobRow: Sendable {
        public var id: Int64
        public var customID: String
        public var model: String
        public var durationMs: Int?
        public var firstTokenMs: Int?
        public var errorKind: String?
        public var errorMessage: String?
        public var attempts: Int
    }

    /// One model's distributions (values in ms, tokens/s for `tokensPerSecond`).
    public struct ModelStats: Sendable {
        public var model: String
        public var provider: String
        public var succeeded = 0
        public var failed = 0
        public var outputTokens = 0
        public var ttft: [Double] = []
        public var latency: [Double] = []
        public var gapP95: [Double] = []
        public var tokensPerSecond: [Double] = []
    }

    public static let maxFailedRows = 500
    public static let detailChars = 6_000

    /// The report of `batch` (an id or a name) in a SQLite database; `provider(model)` names each
    /// model's provider.
    public static func load(_ db: Database, batch reference: String, bins: Int = 60,
                            provider: (String) -> String = { _ in "" }) throws -> BatchReport {
        try SQLiteBatchStore(db).report(batch: reference, bins: bins, provider: provider)
    }

    /// The report of `batch` (an id or a name), read from `store` (`BatchStore.report`, on either
    /// backend): four streamed reads of the batch's rows, then each linked job's detail.
    static func load(from store: some ReportReader, batch reference: String, bins: Int,
                     provider: (String) -> String) throws -> BatchReport {
        let status = try store.status(batch: reference)
        let id = status.id
        let start = status.startedAt ?? status.createdAt
        let end = max(start + 1, status.isFinished ? (status.finishedAt ?? status.observedAt) : status.observedAt)
        let width = (end - start) / Double(bins)
        func bin(_ t: Double) -> Int { min(bins - 1, max(0, Int((t - start) / width))) }

        var completions = [Double](repeating: 0, count: bins), tokens = completions
        var models: [String: ModelStats] = [:]
        try store.rows("""
            SELECT model, state, finished_at, completion_tokens, first_token_ms, duration_ms, gap_p95_ms, tokens_per_s
            FROM jobs WHERE batch_id = $1 AND state IN ('succeeded', 'failed')
            """, batch: id) { r in
            let model = r.string(0) ?? ""
            if models[model] == nil { models[model] = ModelStats(model: model, provider: provider(model)) }
            // In place: a copy taken out of the dictionary would copy every array on each append.
            let isSuccess = r.string(1) == "succeeded"
            func update(_ m: inout ModelStats) {
                guard isSuccess else { m.failed += 1; return }
                m.succeeded += 1
                let out = r.int(3) ?? 0
                m.outputTokens += out
                if let t = r.double(2) { completions[bin(t)] += 1; tokens[bin(t)] += Double(out) / width }
                if let v = r.double(4) { m.ttft.append(v) }
                if let v = r.double(5) { m.latency.append(v) }
                if let v = r.double(6) { m.gapP95.append(v) }
                if let v = r.double(7) { m.tokensPerSecond.append(v) }
            }
            update(&models[model]!)
        }

        var starts = [Double](repeating: 0, count: bins), ends = starts
        var kinds: [String: [Double]] = [:]
        var rateLimited: Set<Int> = [], outages: Set<Int> = []
        var spent = [Double](repeating: 0, count: bins)
        try store.rows("""
            SELECT a.started_at, a.ended_at, a.outcome, a.error_kind, a.http_status, a.cost_usd
            FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.batch_id = $1
            """, batch: id) { r in
            if let s = r.double(0) { starts[bin(s)] += 1 }
            guard let e = r.double(1) else { return }
            ends[bin(e)] += 1
            if let c = r.double(5) { spent[bin(e)] += c }
            guard let outcome = r.string(2), outcome != "succeeded" else { return }
            let kind = r.string(3) ?? outcome
            kinds[kind, default: [Double](repeating: 0, count: bins)][bin(e)] += 1
            if kind == "rate_limited" { rateLimited.insert(bin(e)) }
            if Self.outageKinds.contains(kind) || [502, 503, 504, 529].contains(r.int(4) ?? 0) { outages.insert(bin(e)) }
        }
        var inFlight = [Double](repeating: 0, count: bins), open = 0.0
        for i in 0..<bins { open += starts[i] - ends[i]; inFlight[i] = max(0, open) }

        let ranked = kinds.sorted { $0.value.reduce(0, +) != $1.value.reduce(0, +) ? $0.value.reduce(0, +) > $1.value.reduce(0, +) : $0.key < $1.key }
        var failuresByKind = ranked.prefix(6).map { (kind: $0.key, counts: $0.value) }
        if ranked.count > 6 {
            var other = [Double](repeating: 0, count: bins)
            for k in ranked.dropFirst(6) { for i in 0..<bins { other[i] += k.value[i] } }
            failuresByKind.append((kind: "other", counts: other))
        }

        func rows(_ sql: String) throws -> [JobRow] {
            var out: [JobRow] = []
            try store.rows(sql, batch: id) { r in
                out.append(JobRow(id: r.int64(0) ?? 0, customID: r.string(1) ?? "", model: r.string(2) ?? "", durationMs: r.int(3),
                                  firstTokenMs: r.int(4), errorKind: r.string(5), errorMessage: r.string(6), attempts: r.int(7) ?? 0))
            }
            return out
        }
        let columns = "id, custom_id, model, duration_ms, first_token_ms, error_kind, error_message, attempts"
        // NULLS LAST spelled out: SQLite sorts NULL first and PostgreSQL last by default.
        let slowest = try rows("""
            SELECT \(columns) FROM jobs WHERE batch_id = $1 AND state = 'succeeded' ORDER BY duration_ms DESC NULLS LAST, id LIMIT 20
            """)
        let failed = try rows("SELECT \(columns) FROM jobs WHERE batch_id = $1 AND state = 'failed' ORDER BY id LIMIT \(maxFailedRows)")

        var details: [(Int64, String)] = []
        for job in slowest + failed {
            // By custom_id within the batch: the (batch_id, custom_id) index, not a scan per job.
            var text = try store.jobDetail(job: job.customID, batch: id).rendered()
            if text.count > detailChars { text = String(text.prefix(detailChars)) + "\n… (cut; `choreo show \(job.id)` has all of it)" }
            details.append((job.id, text))
        }

        // Every attempt's cost, as `status` prices it (nil: a model without a price; no card then).
        let cost = status.costUSD
        var cumulativeCost: [Double]?
        if cost != nil {
            var total = 0.0
            cumulativeCost = spent.map { total += $0; return total }
        }

        return BatchReport(
            status: status, start: start, binSeconds: width, completions: completions, tokensPerSecond: tokens, inFlight: inFlight,
            cumulativeCost: cumulativeCost,
            failuresByKind: failuresByKind, rateLimitedBins: rateLimited, outageBins: outages,
            models: models.values.sorted { $0.model < $1.model }, slowest: slowest, failed: failed,
            failedTotal: status.count("failed"), details: details, cost: cost)
    }

    /// Failure kinds that mean the provider could not be reached (shaded as outages).
    static let outageKinds: Set<String> = ["connect", "tls", "connection_lost", "stalled", "overloaded"]
}

/// What a report reads, on either backend (`SQLiteBatchStore`, `PostgresBatchStore`): a report
/// streams a million jobs' rows, so each backend's own row type is read directly, not through an
/// existential.
protocol ReportReader: BatchStore {
    associatedtype Row: StoreRow
    /// Calls `body` once per row of `sql`, streaming. Its one parameter, the batch id, is written
    /// `$1` as PostgreSQL numbers parameters (SQLite reads it as its `?1`); the rest of the
    /// statement must mean the same on both databases.
    func rows(_ sql: String, batch id: String, _ body: (Row) throws -> Void) throws
}
