public import Foundation
public import ChoreoSQLite
public import ChoreoAI
/// A batch or job reference that matches nothing (or more than one thing).
public enum LookupError: Error, Sendable, CustomStringConvertible {
    case noSuchBatch(String)
    case noSuchJob(String)
    case ambiguousJob(String, batches: [String])

    public var description: String {
        switch self {
        case .noSuchBatch(let ref): return "no batch \"\(ref)\" in this database; `choreo status` lists the batches"
        case .noSuchJob(let ref): return "no job \"\(ref)\" (looked for a custom_id and a numeric job id)"
        case .ambiguousJob(let ref, let batches):
            return "custom_id \"\(ref)\" exists in \(batches.count) batches (\(batches.prefix(5).joined(separator: ", "))); add --batch to choose one"
        }
    }
}

/// What `cancel` changed.
public struct CancelResult: Sendable {
    public var batchID: String
    /// Pending jobs now cancelled.
    public var cancelledJobs: Int
    /// Jobs still running; their runners see the cancelled batch and stop them.
    public var runningJobs: Int
    /// The batch state before the cancel (`completed` batches are left as they are).
    public var previousState: String
}

extension Database {
    /// The optional batch filter of a query: `AND <column> = ?` and its argument when `batch` is
    /// given, nothing otherwise. A query has one SQL text per case, each a cached statement.
    static func batchFilter(_ column: String, _ batch: String?) -> (sql: String, arguments: [SQLValue]) {
        guard let batch else { return ("", []) }
        return ("AND \(column) = ?", [.text(batch)])
    }

    /// The id of the batch `reference` names: an exact id, else the newest batch with that name.
    public func batchID(matching reference: String) throws -> String {
        // A batch still being submitted is not there yet.
        if let id = try queryOne("SELECT id FROM batches WHERE id = ? AND state \(Schema.visible)", [.text(reference)], { $0.string(0) }) ?? nil {
            return id
        }
        if let id = try queryOne("SELECT id FROM batches WHERE name = ? AND state \(Schema.visible) ORDER BY created_at DESC LIMIT 1",
                                 [.text(reference)], { $0.string(0) }) ?? nil {
            return id
        }
        throw LookupError.noSuchBatch(reference)
    }

    /// Cancels a batch: pending jobs become `cancelled` (error_kind `cancelled`) and the batch
    /// state `cancelled`. Running jobs are left to their runner, which checks the batch state.
    public func cancelBatch(_ batchID: String, now: Double = Date().timeIntervalSince1970) throws -> CancelResult {
        try transaction(.immediate) {
            guard let state = try queryOne("SELECT state FROM batches WHERE id = ?", [.text(batchID)], { $0.string(0) }) ?? nil else {
                throw LookupError.noSuchBatch(batchID)
            }
            if state == "completed" {
                return CancelResult(batchID: batchID, cancelledJobs: 0, runningJobs: 0, previousState: state)
            }
            try run("""
                UPDATE jobs SET state = 'cancelled', error_kind = 'cancelled', error_message = 'cancelled by choreo cancel',
                       finished_at = ?2, updated_at = ?2, not_before = NULL
                WHERE batch_id = ?1 AND state = 'pending'
                """, [.text(batchID), .real(now)])
            let cancelled = changes
            try run("UPDATE batches SET state = 'cancelled', cancelled_at = coalesce(cancelled_at, ?2) WHERE id = ?1", [.text(batchID), .real(now)])
            let running = try queryOne("SELECT count(*) FROM jobs WHERE batch_id = ? AND state = 'running'", [.text(batchID)]) { $0.int(0) ?? 0 } ?? 0
            return CancelResult(batchID: batchID, cancelledJobs: cancelled, runningJobs: running, previousState: state)
        }
    }
}

extension Database {
    /// Undoes a cancel for `choreo resume --cancelled`: the batch is live again and its cancelled
    /// jobs pending, each with a fresh attempt budget and the text it had received (a job stopped
    /// mid-stream continues from it where the provider can). Returns how many jobs were requeued.
    public func reopenBatch(_ batchID: String, now: Double = Date().timeIntervalSince1970) throws -> Int {
        try transaction(.immediate) {
            try run("""
                UPDATE jobs SET state = 'pending', attempt_base = attempts, error_kind = NULL, error_message = NULL,
                       not_before = NULL, finished_at = NULL, updated_at = ?2
                WHERE batch_id = ?1 AND state = 'cancelled'
                """, [.text(batchID), .real(now)])
            let requeued = changes
            try run("UPDATE batches SET state = 'pending', cancelled_at = NULL, completed_at = NULL WHERE id = ?1 AND state = 'cancelled'",
                    [.text(batchID)])
            return requeued
        }
    }
}

extension Database {
    /// `BatchStore.requeue` (and `JobStore.resume`): the batch's retryable failures (every failure
    /// with `all`), interrupted jobs and jobs of dead runners go back to pending with a fresh
    /// attempt budget; a completed batch is live again. Returns how many jobs were requeued.
    public func requeue(batch: String, all: Bool, retryableKinds: [FailureKind], now t: Double) throws -> Int {
        try transaction {
            // The kinds are bound as one JSON array, not spliced into the SQL.
            let kinds = JSONValue.array(retryableKinds.map { .string($0.rawValue) }).jsonString
            try run("""
                UPDATE jobs SET state = 'pending', attempt_base = attempts, not_before = NULL, finished_at = NULL, updated_at = ?
                WHERE batch_id = ? AND ((state = 'failed' AND (? OR error_kind IN (SELECT value FROM json_each(?))))
                      OR (state = 'pending' AND attempts > attempt_base) OR (state = 'running' AND lease_expires_at < ?))
                """, [.init(t), .init(batch), .init(all), .init(kinds), .init(t)])
            let n = changes
            try run("UPDATE batches SET state = 'pending', completed_at = NULL WHERE id = ? AND state = 'completed'", [.init(batch)])
            return n
        }
    }
}
