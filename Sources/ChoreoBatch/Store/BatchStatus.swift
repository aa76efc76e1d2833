import ChoreoAI
public import Foundation
public import ChoreoSQLite
/// Where a batch stands: jobs by state, tokens, failures by kind, timing. `json` and `rendered()`
/// (in BatchStatus+Rendering.swift) are the machine and human views of this one value.
public struct BatchStatus: Sendable {
    public var id: String
    public var name: String?
    /// `pending`, `running`, `completed` or `cancelled` (batches.state).
    public var state: String
    public var sourceFile: String?
    public var sourceSHA256: String?
    public var createdAt: Double
    public var completedAt: Double?
    public var cancelledAt: Double?
    public var totalJobs: Int
    public var rejectedLines: Int
    /// Job counts by job state; every state is present, zero when no job is in it.
    public var jobs: [String: Int]
    public var promptTokens: Int
    public var completionTokens: Int
    /// Failed jobs by `error_kind`, most frequent first.
    public var failures: [(kind: String, count: Int)]
    /// When the first job started and the last one finished.
    public var startedAt: Double?
    public var finishedAt: Double?
    /// What every attempt of the batch cost, per model (`batch_costs`), and its stored budget.
    public var costs: [ModelCost] = []
    public var budgetUSD: Double?
    /// The endpoints the batch's jobs ask for (`/v1/chat/completions`, `/v1/embeddings`,
    /// `/v1/responses`), as its submit recorded them; empty for a batch submitted before that.
    public var endpoints: [String] = []
    /// Jobs answered from the request cache, and what their answers had cost (saved).
    public var cachedJobs = 0
    public var cacheSavedUSD = 0.0
    /// The time the status was read (elapsed time of a running batch is measured to it).
    public var observedAt: Double

    public func count(_ state: String) -> Int { jobs[state] ?? 0 }
    /// Jobs that ended (succeeded, failed or cancelled).
    public var doneJobs: Int { count("succeeded") + count("failed") + count("cancelled") }
    public var isFinished: Bool { count("pending") + count("running") == 0 }

    /// A batch that started and has jobs left but none running: its run was stopped (Ctrl-C, a
    /// deadline, a lost provider) and nothing works on it until the next `choreo run`.
    public var isInterrupted: Bool { state == "running" && count("running") == 0 && count("pending") > 0 }

    /// `state`, except that an interrupted batch says so instead of `running`.
    public var shownState: String { isInterrupted ? "interrupted" : state }

    /// Seconds from the first job start to the last finish, or to now while jobs run (an
    /// interrupted batch's clock stops at its last finish: it is not working).
    public var elapsed: Double? {
        guard let startedAt else { return nil }
        let end = count("running") > 0 ? observedAt : (finishedAt ?? observedAt)
        return max(0, end - startedAt)
    }

    /// Finished jobs (succeeded + failed) per second of `elapsed`.
    public var jobsPerSecond: Double? {
        guard let elapsed, elapsed > 0 else { return nil }
        return Double(count("succeeded") + count("failed")) / elapsed
    }

    public var outputTokensPerSecond: Double? {
        guard let elapsed, elapsed > 0 else { return nil }
        return Double(completionTokens) / elapsed
    }

    /// The status of one batch (`reference` is an id or a name).
    public static func load(_ db: Database, batch reference: String, now: Double = Date().timeIntervalSince1970) throws -> BatchStatus {
        let id = try db.batchID(matching: reference)
        guard let status = try loadBatches(db, where: "WHERE id = ?", [.text(id)], now: now).first else { throw LookupError.noSuchBatch(reference) }
        return status
    }

    /// Every batch, newest first (not those still being submitted).
    public static func loadAll(_ db: Database, now: Double = Date().timeIntervalSince1970) throws -> [BatchStatus] {
        try loadBatches(db, where: "WHERE state \(Schema.visible)", [], now: now)
    }

    private static func loadBatches(_ db: Database, where clause: String, _ arguments: [SQLValue], now: Double) throws -> [BatchStatus] {
        var result: [BatchStatus] = []
        try db.query("SELECT \(columns) FROM batches \(clause) ORDER BY created_at DESC, id", arguments) { row in
            result.append(BatchStatus(row: row, now: now))
        }
        for i in result.indices {
            var figures = JobFigures()
            try db.query("SELECT \(JobFigures.columns) FROM batch_counts WHERE jobs > 0 AND batch_id = ?", [.text(result[i].id)]) {
                figures.add($0)
            }
            result[i].fill(figures)
            try db.query("SELECT \(ModelCost.columns) FROM batch_costs WHERE batch_id = ? ORDER BY model", [.text(result[i].id)]) {
                result[i].costs.append(ModelCost(row: $0))
            }
            try db.query("SELECT \(cacheColumns) FROM jobs WHERE batch_id = ? AND cached_from IS NOT NULL", [.text(result[i].id)]) {
                result[i].fillCache($0)
            }
        }
        return result
    }

    /// The columns of `batches` that `init(row:now:)` reads, in order.
    static let columns = """
        id, name, state, source_file, source_sha256, created_at, completed_at, cancelled_at, total_jobs, rejected_lines,
        started_at, last_finished_at, budget_usd, options
        """

    /// What `fillCache` reads from the batch's cached jobs (`cached_from IS NOT NULL`).
    static let cacheColumns = "count(*), coalesce(sum(cache_saved_usd), 0)"

    mutating func fillCache(_ row: some StoreRow) {
        cachedJobs = row.int(0) ?? 0
        cacheSavedUSD = row.double(1) ?? 0
    }

    /// Counts, tokens and failures by kind of this batch, from its `batch_counts` rows.
    mutating func fill(_ figures: JobFigures) {
        var figures = figures
        figures.countPending(totalJobs: totalJobs)
        jobs.merge(figures.jobs, uniquingKeysWith: +)
        promptTokens = figures.promptTokens
        completionTokens = figures.completionTokens
        failures = figures.failures.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Job counts, tokens and failures by kind from `batch_counts` (kept by a trigger, schema v3):
/// O(states × batches), whatever the number of jobs. Pending jobs are not counted there: they are
/// the total minus the rest.
struct JobFigures {
    /// Jobs by state; only states that have jobs.
    var jobs: [String: Int] = [:]
    var promptTokens = 0
    var completionTokens = 0
    /// Failed jobs by `error_kind` ("unknown" when it has none).
    var failures: [String: Int] = [:]

    /// What `add` reads from `batch_counts`.
    static let columns = "state, error_kind, jobs, prompt_tokens, completion_tokens"
    /// Jobs counted by the rows added so far.
    private var counted = 0

    init() {}

    /// Adds one row of `batch_counts` (`columns`).
    mutating func add(_ row: some StoreRow) {
        let state = row.string(0) ?? "", count = row.int(2) ?? 0
        jobs[state, default: 0] += count
        promptTokens += row.int(3) ?? 0
        completionTokens += row.int(4) ?? 0
        counted += count
        if state == "failed" {
            let kind = row.string(1) ?? ""
            failures[kind.isEmpty ? "unknown" : kind, default: 0] += count
        }
    }

    /// Counts the jobs no row counts as pending, once every row was added: of `totalJobs`, those
    /// not in another state.
    mutating func countPending(totalJobs: Int) {
        let pending = max(0, totalJobs - counted)
        if pending > 0 { jobs["pending", default: 0] += pending }
        counted += pending
    }

    /// The figures of `batch` (of every batch when nil), whose jobs number `totalJobs`.
    init(_ db: Database, batch: String?, totalJobs: Int) throws {
        let filter = Database.batchFilter("batch_id", batch)
        try db.query("SELECT \(Self.columns) FROM batch_counts WHERE jobs > 0 \(filter.sql)", filter.arguments) { add($0) }
        countPending(totalJobs: totalJobs)
    }

    /// The figures of `batch` (of every batch when nil), reading the total from `batches`.
    init(_ db: Database, batch: String?) throws {
        let filter = Database.batchFilter("id", batch)
        let total = try db.queryOne("SELECT coalesce(sum(total_jobs), 0) FROM batches WHERE true \(filter.sql)", filter.arguments) {
            $0.int(0) ?? 0
        } ?? 0
        try self.init(db, batch: batch, totalJobs: total)
    }
}

/// What the attempts of one batch's jobs of one model cost (`batch_costs`, kept by a trigger).
public struct ModelCost: Sendable, Hashable {
    public var model: String
    public var attempts: Int
    /// Attempts billed for tokens of a model with no price: the cost is unknown then.
    public var unpricedAttempts: Int
    /// Attempts whose usage is a worst-case estimate (a cut stream that never reported it).
    public var estimatedAttempts: Int
    /// The priced attempts' cost in USD; nil when some attempt had no price.
    public var usd: Double?
    public var promptTokens: Int
    public var cachedPromptTokens: Int
    public var cacheWriteTokens: Int
    public var completionTokens: Int
    public var reasoningTokens: Int

    /// What `init(row:)` reads from `batch_costs`.
    static let columns = """
        model, attempts, unpriced_attempts, estimated_attempts, cost_usd, prompt_tokens, cached_prompt_tokens,
        cache_write_tokens, completion_tokens, reasoning_tokens
        """
}

extension BatchStatus {
    /// Every attempt's cost in USD; nil (unknown) when a model had no price, never a guess.
    public var costUSD: Double? {
        costs.reduce(Optional(0.0)) { sum, c in sum.flatMap { s in c.usd.map { s + $0 } } }
    }
}

extension BatchStatus {
    /// A batch's row (`columns`), before its job figures, costs and cache are filled in.
    init(row: some StoreRow, now: Double) {
        self.init(
            id: row.string(0) ?? "", name: row.string(1), state: row.string(2) ?? "", sourceFile: row.string(3),
            sourceSHA256: row.string(4), createdAt: row.double(5) ?? 0, completedAt: row.double(6), cancelledAt: row.double(7),
            totalJobs: row.int(8) ?? 0, rejectedLines: row.int(9) ?? 0,
            jobs: Dictionary(uniqueKeysWithValues: ResultExporter.jobStates.map { ($0, 0) }),
            promptTokens: 0, completionTokens: 0, failures: [], startedAt: row.double(10), finishedAt: row.double(11),
            budgetUSD: row.double(12), observedAt: now)
        endpoints = (try? JSONValue.parse(row.string(13) ?? "{}"))?["endpoints"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

extension ModelCost {
    init(row: some StoreRow) {
        let unpriced = row.int(2) ?? 0
        self.init(model: row.string(0) ?? "", attempts: row.int(1) ?? 0, unpricedAttempts: unpriced,
                  estimatedAttempts: row.int(3) ?? 0, usd: unpriced > 0 ? nil : row.double(4) ?? 0,
                  promptTokens: row.int(5) ?? 0, cachedPromptTokens: row.int(6) ?? 0, cacheWriteTokens: row.int(7) ?? 0,
                  completionTokens: row.int(8) ?? 0, reasoningTokens: row.int(9) ?? 0)
    }
}
