import ChoreoPostgres
import ChoreoTesting
import Testing

/// The libpq wrapper against a real server: the process's throwaway cluster (`PostgresServer`).
@Suite(.enabled(if: PostgresServer.skipReason == nil, Comment(rawValue: PostgresServer.skipReason ?? "")))
struct PostgresConnectionTests {
    @Test
    func textNumbersAndNullsRoundTripAsParameters() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint, text text, x double precision, flag integer)")
            let texts = ["", "it's \"quoted\" \\ back", "ünïcödé 🎉", "NULL", "{a,b}", "line\nbreak"]
            for (i, text) in texts.enumerated() {
                try db.run("INSERT INTO t VALUES ($1, $2, $3, $4)", [.init(Int64(i)), .init(text), .init(Double(i) / 3), .init(i % 2 == 0)])
            }
            try db.run("INSERT INTO t VALUES ($1, $2, $3, $4)", [.init(Int64.max), nil, .init(-Double.infinity), nil])
            var read: [(Int64, String?, Double?, Bool?)] = []
            try db.query("SELECT id, text, x, flag FROM t ORDER BY id") { read.append(($0.int64(0)!, $0.string(1), $0.double(2), $0.bool(3))) }
            #expect(read.map(\.1) == texts.map { Optional($0) } + [nil])
            #expect(read.map(\.0) == (0..<Int64(texts.count)).map { $0 } + [Int64.max])
            #expect(read.dropLast().map(\.2) == texts.indices.map { Double($0) / 3 })
            #expect(read.last?.2 == -Double.infinity)
            #expect(read.map(\.3) == texts.indices.map { $0 % 2 == 0 } + [nil])
        }
    }

    @Test
    func aStreamedQueryGivesEveryRowInOrderWithItsTypesAndBytes() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            var seen: [Int64] = []
            var types: Set<PostgresType> = []
            var bytes: [UInt8]?
            try db.stream("SELECT n, n::float8 / 2, '\\x00ff10'::bytea FROM generate_series(1, $1::bigint) AS n", [.init(50_000)]) { row in
                seen.append(row.int64(0)!)
                types = [row.type(0), row.type(1), row.type(2)]
                bytes = row.bytes(2)
            }
            #expect(seen == Array(1...50_000))
            #expect(types == [.int8, .float8, .bytea] && bytes == [0x00, 0xFF, 0x10])
            // A statement without rows, and an error the server sends: as `query` would.
            try db.stream("SELECT 1 WHERE false") { _ in Issue.record("a row of an empty result") }
            #expect(throws: PostgresError.self) { try db.stream("SELECT 1 / (n - 3) FROM generate_series(1, 5) AS n") { _ in } }
            #expect(try db.queryOne("SELECT 7") { $0.int(0) } == 7)
        }
    }

    @Test
    func aStreamedCopyIsRefusedAndEndedWithoutHangingTheConnection() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
            for copy in ["COPY t TO STDOUT", "COPY (SELECT n FROM t) TO STDOUT WITH (FORMAT csv)", "COPY t FROM STDIN"] {
                do {
                    try db.stream(copy) { _ in Issue.record("a row from \(copy)") }
                    Issue.record("\(copy) was not refused")
                } catch let error as PostgresError {
                    #expect(error.code == .featureNotSupported, "\(copy): \(error)")
                }
                #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 1000, "\(copy)")
            }
        }
    }

    @Test
    func aStreamWhoseReaderThrowsIsCancelledAndTheConnectionStaysUsable() async throws {
        struct Enough: Error {}
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            var count = 0
            // Minutes of rows on the server, streamed as they are made (a set-returning function in the
            // SELECT list is not materialized first): only the cancel ends it early.
            #expect(throws: Enough.self) {
                try db.stream("SELECT generate_series(1, 1000000000)") { _ in
                    count += 1
                    if count == 10 { throw Enough() }
                }
            }
            #expect(count == 10)
            #expect(!db.isInTransaction && db.isConnected)
            #expect(try db.queryOne("SELECT 'still here'") { $0.string(0) } == "still here")
        }
    }

    @Test
    func arraysBindAsOneParameterAndUnnestIntoRows() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint PRIMARY KEY, text text)")
            let ids: [Int64] = [1, 2, 3, 4]
            let texts: [String?] = ["a,b", "say \"hi\" \\o/", nil, "NULL"]
            let changed = try db.run("INSERT INTO t SELECT * FROM unnest($1::bigint[], $2::text[])", [.init(ids), .init(texts)])
            #expect(changed == 4)
            var read: [String?] = []
            try db.query("SELECT text FROM t ORDER BY id") { read.append($0.string(0)) }
            #expect(read == texts)
            #expect(try db.run("UPDATE t SET text = 'x' WHERE id = ANY($1::bigint[])", [.init([Int64(2), 4])]) == 2)
        }
    }

    @Test
    func aFailedStatementCarriesItsSQLStateAndSQLButNotItsArguments() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
            try db.run("INSERT INTO t VALUES ($1)", [7])
            let duplicate = #expect(throws: PostgresError.self) { try db.run("INSERT INTO t VALUES ($1)", ["7"]) }
            #expect(duplicate?.code == .uniqueViolation)
            #expect(duplicate?.description.contains("INSERT INTO t VALUES ($1)") == true)
            let syntax = #expect(throws: PostgresError.self) { try db.run("SELEC 1") }
            #expect(syntax?.code.rawValue == "42601")
            // The connection is still usable after a failed statement.
            #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 1)
        }
    }

    @Test
    func aTransactionThatThrowsLeavesNothingAndASavepointUndoesOnlyItsOwnPart() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
            #expect(throws: Stop.self) {
                try db.transaction { () throws -> Int in
                    try db.run("INSERT INTO t VALUES (1)")
                    throw Stop()
                }
            }
            try db.transaction {
                try db.run("INSERT INTO t VALUES (2)")
                // A failing statement inside a savepoint: the outer transaction goes on.
                _ = try? db.transaction { try db.run("INSERT INTO t VALUES (2)") }
                try db.run("INSERT INTO t VALUES (3)")
            }
            #expect(!db.isInTransaction)
            var ids: [Int] = []
            try db.query("SELECT id FROM t ORDER BY id") { ids.append($0.int(0)!) }
            #expect(ids == [2, 3])
        }
    }

    @Test
    func aReadOnlyTransactionRefusesWrites() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint)")
            let error = #expect(throws: PostgresError.self) {
                try db.transaction(.readOnly) { try db.run("INSERT INTO t VALUES (1)") }
            }
            #expect(error?.isReadOnlyViolation == true)
        }
    }

    @Test
    func textHoldingANULIsRefusedRatherThanCut() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (text text)")
            let error = #expect(throws: PostgresError.self) { try db.run("INSERT INTO t VALUES ($1)", ["before\u{0}after"]) }
            #expect(error?.message.contains("NUL") == true)
            #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 0)
        }
    }

    @Test
    func theMigratorAppliesNewVersionsOnceAndRefusesANewerSchemaUntouched() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            let v1 = PostgresMigrator.Migration(version: 1, sql: "CREATE TABLE a (id bigint)")
            let v2 = PostgresMigrator.Migration(version: 2, sql: "CREATE TABLE b (id bigint); INSERT INTO a VALUES (1)")
            try PostgresMigrator([v1]).migrate(db, now: 1)
            #expect(throws: PostgresSchemaError.self) { try PostgresMigrator([v1, v2]).checkVersion(db) }
            try PostgresMigrator([v1, v2]).migrate(db, now: 2)
            try PostgresMigrator([v1, v2]).migrate(db, now: 3)  // nothing left to do
            try PostgresMigrator([v1, v2]).checkVersion(db)
            #expect(try db.queryOne("SELECT count(*) FROM a") { $0.int(0) } == 1)
            let newer = #expect(throws: PostgresSchemaError.self) { try PostgresMigrator([v1]).migrate(db, now: 4) }
            #expect(newer?.description.contains("schema version 2") == true)
            #expect(try PostgresMigrator.version(db) == 2)
        }
    }

    /// A statement run `prepared` is prepared once per session and executed by name after that,
    /// with the arguments of each call; a rolled-back transaction keeps it (it is the session's),
    /// and a new session after a reconnect prepares it again.
    @Test
    func aPreparedStatementIsPreparedOncePerSessionAndRunsWithEachCallsArguments() async throws {
        try await withPostgresDatabase { url in
            let db = try PostgresConnection(url: PostgresURL(url))
            try db.execute("CREATE TABLE t (id bigint PRIMARY KEY, text text)")
            let insert = "INSERT INTO t SELECT * FROM unnest($1::bigint[], $2::text[])"
            #expect(try db.run(insert, [.init([Int64(1), 2]), .init(["a", "b"])], prepared: true) == 2)
            #expect(throws: PostgresError.self) {
                try db.transaction { try db.run(insert, [.init([Int64(3), 1]), .init(["c", "dup"])], prepared: true) }
            }
            #expect(try db.run(insert, [.init([Int64(3)]), .init(["c"])], prepared: true) == 1)
            #expect(db.preparedCount == 1)
            func preparedOnServer() throws -> Int? { try db.queryOne("SELECT count(*) FROM pg_prepared_statements") { $0.int(0) } ?? nil }
            #expect(try preparedOnServer() == 1)
            var texts: [String] = []
            try db.query("SELECT text FROM t WHERE id = ANY($1::bigint[]) ORDER BY id", [.init([Int64(1), 3])], prepared: true) {
                texts.append($0.string(0)!)
            }
            #expect(texts == ["a", "c"])
            try db.reconnect()
            #expect(db.preparedCount == 0)
            #expect(try db.run(insert, [.init([Int64(4)]), .init(["d"])], prepared: true) == 1)
            #expect(try preparedOnServer() == 1)
            #expect(try db.queryOne("SELECT string_agg(text, ',' ORDER BY id) FROM t") { $0.string(0) } == "a,b,c,d")
        }
    }

    /// A session's server settings hold from its first statement, and again after a reconnect.
    /// What choreo's runners use them for: a session left idle in a transaction (its runner cut
    /// off mid-transaction) is ended by the server, and the rows it locked are free again.
    @Test
    func serverSettingsHoldForTheSessionAndEndOneLeftIdleInATransaction() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let url = try PostgresURL(database.url)
        let setup = try PostgresConnection(url: url)
        try setup.execute("CREATE TABLE counter (id int PRIMARY KEY, n int); INSERT INTO counter VALUES (1, 0)")
        let idle = try PostgresConnection(url: url, serverSettings: ["idle_in_transaction_session_timeout": "300ms"])
        #expect(try idle.queryOne("SHOW idle_in_transaction_session_timeout") { $0.string(0) } == "300ms")
        let pid = try #require(try idle.queryOne("SELECT pg_backend_pid()") { $0.int(0) })
        try idle.execute("BEGIN; UPDATE counter SET n = n + 1 WHERE id = 1")
        // The session says nothing more: the server ends it, and its lock goes with it.
        try await eventually("the server to end the idle session") {
            try setup.queryOne("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [.init(pid)]) { $0.int(0) } == 0
        }
        let other = try PostgresConnection(url: url, serverSettings: ["lock_timeout": "5s"])
        try other.execute("UPDATE counter SET n = n + 10 WHERE id = 1")
        #expect(try other.queryOne("SELECT n FROM counter WHERE id = 1") { $0.int(0) } == 10, "the idle transaction's update was rolled back")
        #expect(throws: PostgresError.self) { try idle.execute("COMMIT") }
        try idle.reconnect()
        #expect(try idle.queryOne("SHOW idle_in_transaction_session_timeout") { $0.string(0) } == "300ms")
    }

    @Test
    func aPasswordInTheURLNeverAppearsInAnError() async throws {
        let server = try PostgresServer.shared.get()
        let url = "postgres://choreo:sekr1t-pass@/no_such_database?host=\(server.root)"
        let error = #expect(throws: PostgresError.self) { try PostgresConnection(url: PostgresURL(url)) }
        #expect(error?.isConnectionFailure == true)
        #expect(error?.description.contains("no_such_database") == true)
        #expect(error?.description.contains("sekr1t") == false)
        #expect(error?.description.contains("choreo:***@") == true)
    }
}

private struct Stop: Error {}

/// What a URL shows of itself: never its password.
struct PostgresURLTests {
    @Test(arguments: [
        ("postgres://ann:pw%40rd!@db.example:5432/q?sslmode=require", "postgres://ann:***@db.example:5432/q?sslmode=require"),
        ("postgresql://ann@db/q?password=hunter22&sslmode=verify-full", "postgresql://ann@db/q?password=***&sslmode=verify-full"),
        ("postgres://ann:a@b@db/q", "postgres://ann:***@db/q"),
        ("postgres:///q?host=/tmp/sock", "postgres:///q?host=/tmp/sock"),
    ])
    func redactedHidesThePasswordWhereverTheURLHoldsIt(url: String, shown: String) throws {
        let parsed = try PostgresURL(url)
        #expect(parsed.redacted == shown)
        #expect("\(parsed)" == shown)
    }

    @Test
    func scrubHidesTheDecodedPasswordInAnyMessage() throws {
        let url = try PostgresURL("postgres://ann:pw%40rd!@db/q")
        #expect(url.scrub("server said pw@rd! is wrong") == "server said *** is wrong")
    }

    @Test
    func aPathIsNotAPostgresURL() {
        #expect(!PostgresURL.isPostgresURL("choreo.sqlite"))
        #expect(throws: PostgresError.self) { try PostgresURL("/tmp/choreo.sqlite") }
    }
}
