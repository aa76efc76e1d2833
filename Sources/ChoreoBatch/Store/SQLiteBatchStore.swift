public import ChoreoAI
public import ChoreoSQLite
import Foundation

/// The SQLite `BatchStore`: one database file, opened by the command that needs it (read-only
/// for the commands that only read, so they never take the write lock nor migrate the file).
/// The SQL is the code the commands ran before (`BatchStatus.load`, `JobDetail.load`,
/// `Database+Batches.swift`); this type only routes the protocol to it.
public final class SQLiteBatchStore: BatchStore, ReportReader {
    public let database: Database
    public var location: StoreLocation { .sqlite(path: database.path) }

    public init(_ database: Database) { self.database = database }

    public func batchID(matching reference: String) throws -> String { try database.batchID(matching: reference) }

    public var dialect: SQLDialect { .sqlite }

    public func read(_ sql: String, _ arguments: [String?], _ body: (any StoreRow) throws -> Void) throws {
        try database.query(sql, arguments.map { $0.map(SQLValue.text) ?? .null }) { try body($0) }
    }

    public func status(batch reference: String, now: Double) throws -> BatchStatus {
        try BatchStatus.load(database, batch: reference, now: now)
    }

    public func statuses(now: Double) throws -> [BatchStatus] { try BatchStatus.loadAll(database, now: now) }

    /// A batch's jobs were inserted in file order in one transaction, so they hold one contiguous
    /// rowid range: walking that range streams rows in input order with no sort (`+batch_id`
    /// keeps the planner off the batch_id index, which would need a temp B-tree). SQLite steps
    /// the statement one row at a time.
    @discardableResult
    public func exportRecords(batch id: String, states: [String], includingResponse: Bool,
                              _ body: (ExportRecord) throws -> Void) throws -> Int {
        guard let (first, last) = try database.queryOne("SELECT min(id), max(id) FROM jobs WHERE batch_id = ?", [.text(id)], {
            ($0.int64(0), $0.int64(1))
        }), let first, let last else { return 0 }
        var sql = "SELECT \(ExportRecord.columns(includingResponse: includingResponse)) FROM jobs WHERE id BETWEEN ? AND ? AND +batch_id = ?"
        var arguments: [SQLValue] = [.integer(first), .integer(last), .text(id)]
        if !states.isEmpty {
            sql += " AND state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
            arguments += states.map { .text($0) }
        }
        sql += " ORDER BY id"
        var count = 0
        try database.query(sql, arguments) { row in
            try body(ExportRecord(row: row))
            count += 1
        }
        return count
    }

    public func jobDetail(job reference: String, batch: String?) throws -> JobDetail {
        try JobDetail.load(database, job: reference, batch: batch)
    }

    /// Then checkpoints: the main file alone holds the change (see RELIABILITY.md, Backups).
    public func cancelBatch(_ id: String, now: Double) throws -> CancelResult {
        let result = try database.cancelBatch(id, now: now)
        try database.checkpoint()
        return result
    }

    public func reopenBatch(_ id: String, now: Double) throws -> Int {
        let reopened = try database.reopenBatch(id, now: now)
        try database.checkpoint()
        return reopened
    }

    public func requeue(batch id: String, all: Bool, retryableKinds: [FailureKind], now: Double) throws -> Int {
        let requeued = try database.requeue(batch: id, all: all, retryableKinds: retryableKinds, now: now)
        try database.checkpoint()
        return requeued
    }

    public func report(batch reference: String, bins: Int, provider: (String) -> String) throws -> BatchReport {
        try BatchReport.load(from: self, batch: reference, bins: bins, provider: provider)
    }

    func rows(_ sql: String, batch id: String, _ body: (Row) throws -> Void) throws {
        try database.query(sql.replacingOccurrences(of: "$1", with: "?1"), [.text(id)], body)
    }

    /// On a connection opened read-only, whose authorizer refuses every write before it runs
    /// (`ReadOnlyAuthorizer`); the time limit interrupts the statement (`limitRunningTime`).
    public func query(readOnly sql: String, timeLimit: Double?, _ body: (_ columns: [String], _ values: [SQLValue]) throws -> Void) throws {
        precondition(database.isReadOnly, "choreo sql runs on a database opened read-only")
        database.limitRunningTime(to: timeLimit)
        defer { database.limitRunningTime(to: nil) }
        var columns: [String] = []
        do {
            try database.query(sql) { row in
                if columns.isEmpty { columns = (0..<Int32(row.columnCount)).map { row.name($0) } }
                try body(columns, (0..<Int32(row.columnCount)).map { row.value($0) })
            }
        } catch let error as SQLiteError where error.isReadOnlyViolation {
            throw QueryError.readOnly(error.message)
        } catch let error as SQLiteError where error.isInterrupted && timeLimit != nil {
            throw QueryError.timedOut(seconds: timeLimit ?? 0)
        }
    }
}
