import Foundation
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
    /// The time the status was read (elapsed time of a running batch is measured to it).
    public var observedAt: Double

    public func count(_ state: String) -> Int { jobs[state] ?? 0 }
    /// Jobs that ended (succeeded, failed or cancelled).
    public var doneJobs: Int { count("succeeded") + count("failed") + count("cancelled") }
    public var isFinished: Bool { count("pending") + count("running") == 0 }

    /// Seconds from the first job start to the last finish (or to now while jobs remain).
    public var elapsed: Double? {
        guard let startedAt else { return nil }
        let end = isFinished ? (finishedAt ?? observedAt) : observedAt
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

    /// Every batch, newest first.
    public static func loadAll(_ db: Database, now: Double = Date().timeIntervalSince1970) throws -> [BatchStatus] {
        try loadBatches(db, where: "", [], now: now)
    }

    private static func loadBatches(_ db: Database, where clause: String, _ arguments: [SQLValue], now: Double) throws -> [BatchStatus] {
        var result: [BatchStatus] = []
        try db.query("""
            SELECT id, name, state, source_file, source_sha256, created_at, completed_at, cancelled_at, total_jobs, rejected_lines
            FROM batches \(clause) ORDER BY created_at DESC, id
            """, arguments) { row in
            result.append(BatchStatus(
                id: row.string(0) ?? "", name: row.string(1), state: row.string(2) ?? "", sourceFile: row.string(3),
                sourceSHA256: row.string(4), createdAt: row.double(5) ?? 0, completedAt: row.double(6), cancelledAt: row.double(7),
                totalJobs: row.int(8) ?? 0, rejectedLines: row.int(9) ?? 0,
                jobs: Dictionary(uniqueKeysWithValues: ResultExporter.jobStates.map { ($0, 0) }),
                promptTokens: 0, completionTokens: 0, failures: [], startedAt: nil, finishedAt: nil, observedAt: now))
        }
        for i in result.indices { try fillJobFigures(db, &result[i]) }
        return result
    }

    private static func fillJobFigures(_ db: Database, _ s: inout BatchStatus) throws {
        try db.query("""
            SELECT state, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), min(started_at), max(finished_at)
            FROM jobs WHERE batch_id = ? GROUP BY state
            """, [.text(s.id)]) { row in
            s.jobs[row.string(0) ?? "", default: 0] += row.int(1) ?? 0
            s.promptTokens += row.int(2) ?? 0
            s.completionTokens += row.int(3) ?? 0
            if let started = row.double(4) { s.startedAt = min(s.startedAt ?? started, started) }
            if let finished = row.double(5) { s.finishedAt = max(s.finishedAt ?? finished, finished) }
        }
        try db.query("""
            SELECT coalesce(error_kind, 'unknown'), count(*) FROM jobs WHERE batch_id = ? AND state = 'failed'
            GROUP BY 1 ORDER BY 2 DESC, 1
            """, [.text(s.id)]) { row in
            s.failures.append((row.string(0) ?? "unknown", row.int(1) ?? 0))
        }
    }
}
