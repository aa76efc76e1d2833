import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

@Suite("Database wrapper")
struct DatabaseTests {
    @Test func newDatabaseFileIsPrivate0600() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        try db.run("INSERT INTO runners (id) VALUES ('r')")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("choreo.sqlite"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let wal = try FileManager.default.attributesOfItem(atPath: dir.file("choreo.sqlite-wal"))
        #expect((wal[.posixPermissions] as? Int) == 0o600)
    }

    @Test func opensInWALModeWithForeignKeysAndNormalSync() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        #expect(try db.queryOne("PRAGMA journal_mode") { $0.string(0) } == "wal")
        #expect(try db.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1)
        #expect(try db.queryOne("PRAGMA synchronous") { $0.int(0) } == 1)
        #expect(try db.queryOne("PRAGMA busy_timeout") { $0.int(0) } == 10_000)
        // Statement journals stay in memory: a group commit's savepoints spilled to /var/tmp files.
        #expect(try db.queryOne("PRAGMA temp_store") { $0.int(0) } == 2)
    }

    /// `runEach` runs the statement once per row, each with its own arguments (none left bound
    /// from the row before); a row that fails stops it there, and the statement works afterwards.
    @Test func runEachRunsTheStatementOncePerRowAndStopsAtAFailure() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        let insert = "INSERT INTO t (k, v) VALUES (?, ?)"
        let none: String? = nil
        try db.runEach(insert, [[.init(1), "a"], [.init(2), .init(none)], [.init(3), "c"]])
        var rows: [String] = []
        try db.query("SELECT k, coalesce(v, 'null') FROM t ORDER BY k") { rows.append("\($0.int(0)!)=\($0.string(1)!)") }
        #expect(rows == ["1=a", "2=null", "3=c"])
        #expect(throws: SQLiteError.self) { try db.runEach(insert, [[.init(4), "d"], [.init(1), "duplicate"], [.init(5), "e"]]) }
        #expect(try db.queryOne("SELECT group_concat(k) FROM t") { $0.string(0) } == "1,2,3,4")
        try db.run(insert, [.init(5), "e"])
        #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 5)
    }

    @Test func valuesRoundTripThroughEveryStorageClass() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        try db.execute("CREATE TABLE t (a, b, c, d, e, f)")
        let optional: String? = nil
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", [.init(42), .init(2.5), "héllo ✓", .init(optional), .blob([0, 1, 255]), ""])
        #expect(db.changes == 1)
        #expect(db.lastInsertRowID == 1)
        try db.query("SELECT a, b, c, d, e, f FROM t") { row in
            #expect(row.int(0) == 42)
            #expect(row.double(1) == 2.5)
            #expect(row.string(2) == "héllo ✓")
            #expect(row.isNull(3) && row.string(3) == nil)
            #expect(row.blob(4) == [0, 1, 255])
            #expect(row.string(5) == "")
            #expect(row.name(0) == "a" && row.name(2) == "c" && row.columnCount == 6)
        }
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        struct Boom: Error {}
        let dir = TemporaryDirectory()
        let db = try dir.database()
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.run("INSERT INTO runners (id) VALUES ('a')")
                throw Boom()
            }
        }
        #expect(try db.count("SELECT count(*) FROM runners") == 0)
        // Nested transactions are savepoints: the inner failure undoes only the inner part.
        try db.transaction {
            try db.run("INSERT INTO runners (id) VALUES ('outer')")
            _ = try? db.transaction { try db.run("INSERT INTO runners (id) VALUES ('inner')"); throw Boom() }
        }
        #expect(try db.count("SELECT count(*) FROM runners") == 1)
    }

    @Test func errorsCarryCodeMessageAndSQL() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        do {
            try db.run("INSERT INTO nowhere VALUES (1)")
            Issue.record("expected an error")
        } catch let error as SQLiteError {
            #expect(error.code == .error)
            #expect(error.message.contains("no such table"))
            #expect(error.sql == "INSERT INTO nowhere VALUES (1)")
            #expect(error.description.contains("no such table"))
        }
    }

    @Test func readOnlyConnectionRefusesWritesAndChangesNothing() throws {
        let dir = TemporaryDirectory()
        do {
            let db = try dir.database()
            try db.run("INSERT INTO runners (id, pid) VALUES ('r', 1)")
        }
        let ro = try dir.database(readOnly: true)
        do {
            try ro.run("UPDATE runners SET pid = 2")
            Issue.record("a write succeeded on a read-only connection")
        } catch let error as SQLiteError {
            #expect(error.isReadOnlyViolation)
        }
        #expect(throws: SQLiteError.self) { try ro.execute("CREATE TEMP TABLE x (a)") }
        #expect(try ro.queryOne("SELECT pid FROM runners") { $0.int(0) } == 1)
    }

    @Test func readOnlyOpenOfAMissingFileSaysSo() throws {
        let dir = TemporaryDirectory()
        #expect(throws: SQLiteError.self) { _ = try Database(path: dir.file("missing.sqlite"), readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("missing.sqlite")))
    }

    @Test func statementsAreReusedAndNestedQueriesOfTheSameSQLWork() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        try db.execute("CREATE TABLE t (a); INSERT INTO t VALUES (1), (2), (3)")
        var pairs = 0
        try db.query("SELECT a FROM t") { _ in
            try db.query("SELECT a FROM t") { _ in pairs += 1 }
        }
        #expect(pairs == 9)
        for i in 0..<100 { try db.run("INSERT INTO t VALUES (?)", [.init(i)]) }
        #expect(try db.count("SELECT count(*) FROM t") == 103)
    }
}

@Suite("Schema migrations")
struct SchemaTests {
    @Test func newDatabaseGetsTheCurrentVersionAndReopeningIsIdempotent() throws {
        let dir = TemporaryDirectory()
        do { _ = try dir.database() }
        do {
            let db = try dir.database()
            #expect(try Schema.userVersion(db) == Schema.currentVersion)
            #expect(try db.count("SELECT count(*) FROM sqlite_master WHERE name IN ('batches','jobs','attempts','rejected_lines','runners','results','batch_summary')") == 7)
        }
    }

    @Test func aDatabaseFromANewerChoreoIsRefusedUntouched() throws {
        let dir = TemporaryDirectory()
        do {
            let db = try dir.database()
            try db.execute("PRAGMA user_version = \(Schema.currentVersion + 1)")
        }
        #expect(throws: SchemaError.self) { _ = try dir.database() }
        #expect(throws: SchemaError.self) { _ = try dir.database(readOnly: true) }
        // Still the newer version: nothing was migrated down or changed.
        let raw = try Database(path: dir.file("choreo.sqlite"), readOnly: false, migrate: false)
        #expect(try Schema.userVersion(raw) == Schema.currentVersion + 1)
    }

    @Test func anOlderDatabaseIsMigrated() throws {
        let dir = TemporaryDirectory()
        do {
            let raw = try Database(path: dir.file("choreo.sqlite"), readOnly: false, migrate: false)
            try raw.execute("CREATE TABLE keep (a); INSERT INTO keep VALUES (7)")
            #expect(try Schema.userVersion(raw) == 0)
        }
        #expect(throws: SchemaError.self) { _ = try dir.database(readOnly: true) }
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.count("SELECT a FROM keep") == 7)
    }
}
