import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// The CHECKs on `jobs.state` and `batches.state` (schema 20). SQLite 3.40 evaluates
/// `state IN ('pending', …)` through an ephemeral table it builds again for every row a statement
/// writes: a B-tree opened and a page zeroed, ~3 µs, on every claim and end of a job. The same
/// rule spelled with `=` and `OR` compares in place; it must refuse exactly what it refused.
@Suite("State CHECKs (SQLite)")
struct StateChecksTests {
    /// The opcodes SQLite compiles `sql` to (`EXPLAIN`).
    private func opcodes(_ db: Database, _ sql: String) throws -> [String] {
        var out: [String] = []
        try db.query("EXPLAIN \(sql)") { out.append($0.string(1) ?? "") }
        return out
    }

    @Test func writingAStateBuildsNoEphemeralTable() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        for sql in ["UPDATE jobs SET state = 'running' WHERE id = 1", "UPDATE batches SET state = 'running' WHERE id = 'b'",
                    "INSERT INTO jobs (batch_id, custom_id, line, model, created_at) VALUES ('b', 'c', 1, 'm', 0)"] {
            #expect(try !opcodes(db, sql).contains("OpenEphemeral"), "\(sql)")
        }
    }

    @Test func theChecksRefuseWhatTheyRefusedAndAllowEveryState() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        try db.run("INSERT INTO batches (id, created_at) VALUES ('b', 0)")
        for state in ["pending", "running", "completed", "cancelled", "submitting"] {
            try db.run("UPDATE batches SET state = ? WHERE id = 'b'", [.text(state)])
        }
        try db.run("INSERT INTO jobs (batch_id, custom_id, line, model, created_at) VALUES ('b', 'c', 1, 'm', 0)")
        try db.run("INSERT INTO job_requests (job_id, request) VALUES (last_insert_rowid(), '{}')")
        for state in ["pending", "running", "succeeded", "failed", "cancelled"] {
            try db.run("UPDATE jobs SET state = ? WHERE custom_id = 'c'", [.text(state)])
        }
        for (table, state) in [("jobs", "done"), ("jobs", "Pending"), ("jobs", ""), ("batches", "succeeded"), ("batches", "running ")] {
            let error = #expect(throws: SQLiteError.self) {
                try db.run("UPDATE \(table) SET state = ?", [.text(state)])
            }
            #expect(error?.code.primary == .constraint, "\(table).state = '\(state)'")
        }
        #expect(try db.queryOne("SELECT state FROM jobs") { $0.string(0) } == "cancelled")
    }

    /// A database of schema 19 gets the new CHECKs in place: its jobs stay, and the connection
    /// that migrated it and one that opened it before both compile the new rule.
    @Test func aDatabaseOfSchema19IsMigratedInPlace() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<3).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        try Database(path: dir.databasePath).execute(OldSchema.version19)
        do {
            let undone = try Database(path: dir.databasePath, readOnly: false, migrate: false)
            #expect(try opcodes(undone, "UPDATE jobs SET state = 'running' WHERE id = 1").contains("OpenEphemeral"), "not undone")
        }
        // Open before the migration, with schema 19 read. (No EXPLAIN is cached on it: SQLite lists
        // a cached EXPLAIN's program without checking the schema, through pointers into the old one.)
        let raw = try Database(path: dir.databasePath, readOnly: false, migrate: false)
        #expect(try raw.count("SELECT count(*) FROM jobs") == 3)
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.count("SELECT count(*) FROM jobs") == 3)
        // The connection opened before reads the moved schema cookie with its next statement
        // (`EXPLAIN` alone compiles against the schema it holds).
        #expect(try raw.count("SELECT count(*) FROM jobs") == 3)
        for connection in [db, raw] {
            #expect(try !opcodes(connection, "UPDATE jobs SET state = 'running' WHERE id = 1").contains("OpenEphemeral"))
            #expect(throws: SQLiteError.self) { try connection.run("UPDATE jobs SET state = 'done'") }
        }
        #expect(try db.queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
    }
}
