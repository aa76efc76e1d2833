public import ChoreoAI
public import ChoreoPostgres
public import ChoreoSQLite

/// The PostgreSQL `BatchStore` (issue 15, docs/postgres.md): what `status`, `results`, `show`,
/// `report`, `sql`, `cancel` and `resume` read and change, on the database `PostgresJobStore`'s runners
/// share. The rows are decoded by the same initializers as SQLite's (`StoreRow`), from the same
/// column lists, so the commands print the same on both; only the statements around them are
/// PostgreSQL's (`$n` parameters, `= ANY` arrays, text ordered `COLLATE "C"` as SQLite orders it
/// byte by byte).
///
/// Opening connects and checks the schema is this build's; nothing is migrated (a command that
/// reads creates no table).
public final class PostgresBatchStore: BatchStore, ReportReader {
    let db: PostgresConnection
    public var location: StoreLocation { .postgres(db.url) }

    public init(url: PostgresURL) throws {
        db = try PostgresConnection(url: url)
        try PostgresSchema.migrator.checkVersion(db)
    }

    public var dialect: SQLDialect { .postgres }

    public func read(_ sql: String, _ arguments: [String?], _ body: (any StoreRow) throws -> Void) throws {
        try db.query(sql, arguments.map { PostgresValue($0) }) { try body($0) }
    }

    public func batchID(matching reference: String) throws -> String {
        // A batch still being submitted is not there yet.
        if let id = try db.queryOne("SELECT id FROM batches WHERE id = $1 AND state \(Schema.visible)", [.init(reference)], { $0.string(0) }) ?? nil {
            return id
        }
        if let id = try db.queryOne("""
            SELECT id FROM batches WHERE name = $1 AND state \(Schema.visible) ORDER BY created_at DESC LIMIT 1
            """, [.init(reference)], { $0.string(0) }) ?? nil {
            return id
        }
        throw LookupError.noSuchBatch(reference)
    }

    // MARK: Status

    public func status(batch reference: String, now: Double) throws -> BatchStatus {
        let id = try batchID(matching: reference)
        guard let status = try statuses(where: "WHERE id = $1", [.init(id)], now: now).first else { throw LookupError.noSuchBatch(reference) }
        return status
    }

    public func statuses(now: Double) throws -> [BatchStatus] {
        try statuses(where: "WHERE state \(Schema.visible)", [], now: now)
    }

    /// As `BatchStatus.loadBatches` on SQLite: the batches' rows, then each one's counters.
    private func statuses(where clause: String, _ arguments: [PostgresValue], now: Double) throws -> [BatchStatus] {
        var result: [BatchStatus] = []
        try db.query("SELECT \(BatchStatus.columns) FROM batches \(clause) ORDER BY created_at DESC, id COLLATE \"C\"", arguments) { row in
            result.append(BatchStatus(row: row, now: now))
        }
        for i in result.indices {
            let id: [PostgresValue] = [.init(result[i].id)]
            var figures = JobFigures()
            try db.query("SELECT \(JobFigures.columns) FROM batch_counts WHERE jobs > 0 AND batch_id = $1", id) { figures.add($0) }
            result[i].fill(figures)
            try db.query("SELECT \(ModelCost.columns) FROM batch_costs WHERE batch_id = $1 ORDER BY model COLLATE \"C\"", id) {
                result[i].costs.append(ModelCost(row: $0))
            }
            try db.query("SELECT \(BatchStatus.cacheColumns) FROM jobs WHERE batch_id = $1 AND cached_from IS NOT NULL", id) {
                result[i].fillCache($0)
            }
        }
        return result
    }

    // MARK: Results

    /// Streamed in libpq's single-row mode (`PostgresConnection.stream`): the client holds one row
    /// at a time; the server walks the batch's jobs in id order (input order: a submit inserts
    /// them in file order).
    @discardableResult
    public func exportRecords(batch id: String, states: [String], includingResponse: Bool,
                              _ body: (ExportRecord) throws -> Void) throws -> Int {
        var a = PostgresArguments()
        var sql = "SELECT \(ExportRecord.columns(includingResponse: includingResponse, postgres: true)) FROM jobs WHERE batch_id = \(a.add(id))"
        if !states.isEmpty { sql += " AND state = ANY(\(a.add(states))::text[])" }
        sql += " ORDER BY id"
        var count = 0
        try db.stream(sql, a.values) { row in
            try body(ExportRecord(row: row))
            count += 1
        }
        return count
    }

    // MARK: One job

    /// As `JobDetail.load` on SQLite.
    public func jobDetail(job reference: String, batch: String?) throws -> JobDetail {
        var candidates: [(id: Int64, batchID: String)] = []
        func add(_ row: PostgresRow) { candidates.append((row.int64(0)!, row.string(1) ?? "")) }
        // Jobs of a batch still being submitted are not there yet.
        let visible = "JOIN batches b ON b.id = j.batch_id AND b.state \(Schema.visible)"
        if let batch {
            let batchID = try batchID(matching: batch)
            try db.query("SELECT id, batch_id FROM jobs WHERE batch_id = $1 AND custom_id = $2", [.init(batchID), .init(reference)], add)
        } else {
            try db.query("SELECT j.id, j.batch_id FROM jobs j \(visible) WHERE j.custom_id = $1 ORDER BY j.id DESC", [.init(reference)], add)
        }
        if candidates.isEmpty, let numeric = Int64(reference) {
            try db.query("SELECT j.id, j.batch_id FROM jobs j \(visible) WHERE j.id = $1", [.init(numeric)], add)
        }
        let id = try JobDetail.only(candidates, reference: reference)
        guard var detail = try db.queryOne(
            "SELECT \(ExportRecord.columns(includingResponse: true, postgres: true)), \(JobDetail.columns) FROM jobs WHERE id = $1",
            [.init(id)], { JobDetail(row: $0) })
        else { throw LookupError.noSuchJob(reference) }
        try db.query("SELECT \(JobDetail.Attempt.columns) FROM attempts WHERE job_id = $1 ORDER BY number", [.init(id)]) { row in
            detail.attempts.append(JobDetail.Attempt(row: row))
        }
        return detail
    }

    // MARK: Changing a batch

    /// As `Database.cancelBatch`; the batch's row is locked first, so a concurrent cancel or
    /// resume of the same batch waits for this one.
    public func cancelBatch(_ id: String, now: Double) throws -> CancelResult {
        try write {
            guard let state = try db.queryOne("SELECT state FROM batches WHERE id = $1 FOR UPDATE", [.init(id)], { $0.string(0) }) ?? nil else {
                throw LookupError.noSuchBatch(id)
            }
            if state == "completed" {
                return CancelResult(batchID: id, cancelledJobs: 0, runningJobs: 0, previousState: state)
            }
            let cancelled = try db.run("""
                UPDATE jobs SET state = 'cancelled', error_kind = 'cancelled', error_message = 'cancelled by choreo cancel',
                       finished_at = $2, updated_at = $2, not_before = NULL
                WHERE batch_id = $1 AND state = 'pending'
                """, [.init(id), .init(now)])
            try db.run("UPDATE batches SET state = 'cancelled', cancelled_at = coalesce(cancelled_at, $2) WHERE id = $1", [.init(id), .init(now)])
            let running = try db.queryOne("SELECT count(*) FROM jobs WHERE batch_id = $1 AND state = 'running'", [.init(id)]) { $0.int(0) ?? 0 } ?? 0
            return CancelResult(batchID: id, cancelledJobs: cancelled, runningJobs: running, previousState: state)
        }
    }

    /// As `Database.reopenBatch`.
    public func reopenBatch(_ id: String, now: Double) throws -> Int {
        try write {
            let requeued = try db.run("""
                UPDATE jobs SET state = 'pending', attempt_base = attempts, error_kind = NULL, error_message = NULL,
                       not_before = NULL, finished_at = NULL, updated_at = $2
                WHERE batch_id = $1 AND state = 'cancelled'
                """, [.init(id), .init(now)])
            try db.run("UPDATE batches SET state = 'pending', cancelled_at = NULL, completed_at = NULL WHERE id = $1 AND state = 'cancelled'",
                       [.init(id)])
            return requeued
        }
    }

    /// `PostgresJobStore.resume`'s statements.
    public func requeue(batch id: String, all: Bool, retryableKinds: [FailureKind], now: Double) throws -> Int {
        try write { try PostgresJobStore.requeue(batch: id, all: all, retryableKinds: retryableKinds, now: now, db: db) }
    }

    /// One transaction, run again when it lost a deadlock or serialization race with a runner
    /// (the counter triggers lock `batch_counts` rows, which concurrent transactions may reach in
    /// different orders), as `PostgresJobStore` does.
    private func write<T>(_ body: () throws -> T) throws -> T {
        var races = 0
        while true {
            do {
                return try db.transaction { try body() }
            } catch let error as PostgresError where error.isTransient && races < 20 {
                races += 1
            }
        }
    }

    // MARK: choreo report

    public func report(batch reference: String, bins: Int, provider: (String) -> String) throws -> BatchReport {
        try BatchReport.load(from: self, batch: reference, bins: bins, provider: provider)
    }

    func rows(_ sql: String, batch id: String, _ body: (PostgresRow) throws -> Void) throws {
        try db.stream(sql, [.init(id)], body)
    }

    // MARK: choreo sql

    /// In a `READ ONLY` transaction that is always rolled back, with `statement_timeout` as the
    /// time limit. A snapshot is taken before the user's statement runs, so that statement can
    /// no longer make the transaction read-write (`SET TRANSACTION READ WRITE` must come before
    /// any query, SQLSTATE 25001). The statement goes alone through the extended protocol, which
    /// refuses a second one after a `;`.
    public func query(readOnly sql: String, timeLimit: Double?, _ body: (_ columns: [String], _ values: [SQLValue]) throws -> Void) throws {
        if db.isInTransaction { try db.execute("ROLLBACK") }
        try db.execute("BEGIN READ ONLY")
        defer { if db.isConnected { try? db.execute("ROLLBACK") } }
        if let timeLimit { try db.execute("SET LOCAL statement_timeout = \(max(1, Int((timeLimit * 1000).rounded())))") }
        try db.execute("SELECT 1")
        var columns: [String] = []
        do {
            try db.stream(sql) { row in
                if columns.isEmpty { columns = (0..<Int32(row.columnCount)).map { row.name($0) } }
                try body(columns, (0..<Int32(row.columnCount)).map { Self.value(row, $0) })
            }
        } catch let error as PostgresError where error.isReadOnlyViolation || error.code.rawValue == "25001" {
            throw QueryError.readOnly(error.message)
        } catch let error as PostgresError where error.code == .queryCanceled && timeLimit != nil {
            throw QueryError.timedOut(seconds: timeLimit ?? 0)
        }
    }

    /// A column as SQLite would hold it: whole numbers (and booleans, 1 or 0) as integers,
    /// floating-point numbers as reals, `bytea` as a blob, every other type as its text.
    static func value(_ row: PostgresRow, _ i: Int32) -> SQLValue {
        guard let text = row.string(i) else { return .null }
        let type = row.type(i)
        if type.isInteger || type == .numeric, let v = Int64(text) { return .integer(v) }
        if type.isFloat || type == .numeric, let v = Double(text) { return .real(v) }
        if type == .bool { return .integer(text == "t" ? 1 : 0) }
        if type == .bytea { return .blob(row.bytes(i) ?? []) }
        return .text(text)
    }
}
