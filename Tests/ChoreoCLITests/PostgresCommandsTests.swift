import ChoreoAI
import ChoreoBatch
import ChoreoPostgres
import ChoreoSQLite
import ChoreoTesting
import Foundation
import Testing

/// `status`, `results`, `show`, `report`, `sql`, `cancel` and `resume` with `--db postgres://…`
/// (issue 15) print exactly what they print for the same batch in a SQLite file, with the same
/// exit codes.
///
/// The same job file is submitted and run against the mock into both databases. Before the
/// commands are compared, every time the two runs wrote (when a batch, job or attempt started,
/// ended, was updated; stream timings; the runner's name, which holds its pid; the mock's random
/// request ids) is set to the same
/// value in both databases by one UPDATE script (`sameTimes`): they differ between any two runs,
/// on one backend as on two. The outputs are then compared byte for byte, after one replacement:
/// each database's batch ids (random at submit) become BATCH-1, BATCH-2. The answers' `created`
/// in the openai format is the mock's clock at the request, and the report's "generated" line
/// the clock when it was written: both are masked for the same reason.
@Suite struct PostgresCommandsTests {
    static let password = "s3cr3t-in-the-url"

    /// Both databases, and each one's batch ids in submit order.
    final class Pair: @unchecked Sendable {  // used by one test task at a time
        let scratch = TemporaryDirectory()
        let postgres: PostgresTestDatabase
        /// The URL with a password (the test cluster trusts its socket and ignores it).
        let url: String
        let sqlite: String
        var sqliteBatches: [String] = []
        var postgresBatches: [String] = []

        init() throws {
            postgres = try PostgresServer.shared.get().createDatabase()
            url = postgres.url.replacingOccurrences(of: "postgres://choreo@", with: "postgres://choreo:\(PostgresCommandsTests.password)@")
            sqlite = scratch.file("same.sqlite")
        }

        /// Runs `arguments` against each database.
        func run(_ arguments: [String]) async throws -> (sqlite: ChoreoOutput, postgres: ChoreoOutput) {
            (try await ChoreoBinary.run(arguments + ["--db", sqlite]), try await ChoreoBinary.run(arguments + ["--db", url]))
        }

        func masked(_ text: String, _ batches: [String]) -> String {
            var out = text
            for (i, id) in batches.enumerated() { out = out.replacingOccurrences(of: id, with: "BATCH-\(i + 1)") }
            return out.replacingOccurrences(of: #""created":[0-9]+"#, with: #""created":T"#, options: .regularExpression)
                // The page's own time, ISO 8601 (2026-12-01T14:22:42Z): the two pages are made a
                // second apart now and then.
                .replacingOccurrences(of: #"generated [0-9][0-9T:.Z+ -]*"#, with: "generated T", options: .regularExpression)
        }

        /// Runs `arguments` (with `{B1}`, `{B2}` for the batches) on both and expects the same exit
        /// status, stdout and stderr, and no password anywhere.
        @discardableResult
        func expectSame(_ arguments: [String], status: Int32? = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            func resolved(_ batches: [String]) -> [String] {
                arguments.map { a in batches.enumerated().reduce(a) { $0.replacingOccurrences(of: "{B\($1.offset + 1)}", with: $1.element) } }
            }
            let lite = try await ChoreoBinary.run(resolved(sqliteBatches) + ["--db", sqlite])
            let pg = try await ChoreoBinary.run(resolved(postgresBatches) + ["--db", url])
            let command = arguments.joined(separator: " ")
            #expect(lite.status == pg.status, "\(command): exit \(lite.status) on SQLite, \(pg.status) on PostgreSQL\n\(pg.output)",
                    sourceLocation: sourceLocation)
            if let status { #expect(pg.status == status, "\(command): \(pg.output)", sourceLocation: sourceLocation) }
            #expect(masked(lite.stdout, sqliteBatches) == masked(pg.stdout, postgresBatches), "\(command): stdout differs",
                    sourceLocation: sourceLocation)
            #expect(masked(lite.stderr, sqliteBatches) == masked(pg.stderr, postgresBatches), "\(command): stderr differs",
                    sourceLocation: sourceLocation)
            #expect(!pg.output.contains(PostgresCommandsTests.password), "\(command) printed the password", sourceLocation: sourceLocation)
            return masked(pg.stdout, postgresBatches)
        }

        /// Sets every time the runs wrote to the same values in both databases (see the suite's note).
        func sameTimes() throws {
            let timings = "queue_ms = 1, headers_ms = 2, first_token_ms = 3, streaming_ms = 4, chunks = 5, gaps = 4, "
                + "gap_p50_ms = 1.5, gap_p95_ms = 2.5, gap_max_ms = 3.5, gaps_over_1s = 0, tokens_per_s = 100.5"
            let script = [
                "UPDATE batches SET created_at = 1764000000 + (SELECT count(*) FROM batches b WHERE b.created_at < batches.created_at), "
                    + "started_at = CASE WHEN started_at IS NULL THEN NULL ELSE 1764000100 END, "
                    + "last_finished_at = CASE WHEN last_finished_at IS NULL THEN NULL ELSE 1764000200 END, "
                    + "completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE 1764000300 END, "
                    + "cancelled_at = CASE WHEN cancelled_at IS NULL THEN NULL ELSE 1764000400 END",
                "UPDATE jobs SET created_at = 1764000000, updated_at = 1764000500, "
                    + "started_at = CASE WHEN started_at IS NULL THEN NULL ELSE 1764000100 END, "
                    + "finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE 1764000200 END, "
                    + "duration_ms = CASE WHEN duration_ms IS NULL THEN NULL ELSE 1234 END, "
                    + "\(timings.replacingOccurrences(of: "first_token_ms = 3, ", with: "")), "
                    + "first_token_ms = CASE WHEN first_token_ms IS NULL THEN NULL ELSE 3 END",
                "UPDATE jobs SET request_id = 'req-' || id WHERE request_id IS NOT NULL",
                "UPDATE attempts SET request_id = 'req-' || job_id || '-' || number WHERE request_id IS NOT NULL",
                "UPDATE attempts SET runner = 'runner', started_at = 1764000100, "
                    + "ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE 1764000200 END, \(timings)",
            ]
            let lite = try Database(path: sqlite)
            for sql in script { try lite.execute(sql) }
            let pg = try postgres.connect()
            for sql in script { try pg.execute(sql) }
        }
    }

    static let jobLines: [JSONValue] = {
        var lines: [JSONValue] = (0..<4).map { i in
            ["custom_id": .string("chat-\(i)"), "model": "gpt-4o-mini", "max_tokens": 24,
             "messages": [["role": "user", "content": .string("Tell me about moon \(i), with \"quotes\", a comma and ünïcode")]]]
        }
        lines.append(["custom_id": "refused", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "No quota"]],
                      "mock": ["fault": "quota"]])
        lines += (0..<2).map { i in
            ["custom_id": .string("emb-\(i)"), "method": "POST", "url": "/v1/embeddings",
             "body": ["model": "text-embedding-3-small", "input": i == 0 ? .string("one vector") : ["two", "vectors"], "dimensions": 4]]
        }
        return lines
    }()

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func everyCommandPrintsTheSameOnPostgresAsOnSQLite() async throws {
        let pair = try Pair()
        let ran = pair.scratch.write("ran.jsonl", lines: Self.jobLines.map(\.jsonString))
        let waiting = pair.scratch.write("waiting.jsonl", lines: Self.jobLines.prefix(3).map(\.jsonString))
        let submitted = try await pair.run(["submit", ran, "--run", "--mock", "--mock-chunk-delay-ms", "1", "--quiet"])
        #expect(submitted.sqlite.status == 1 && submitted.postgres.status == 1, "\(submitted.sqlite.output)\n\(submitted.postgres.output)")
        pair.sqliteBatches.append(submitted.sqlite.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        pair.postgresBatches.append(submitted.postgres.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let second = try await pair.run(["submit", waiting, "--name", "waiting"])
        pair.sqliteBatches.append(second.sqlite.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        pair.postgresBatches.append(second.postgres.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(!pair.postgres.url.contains(Self.password) && pair.postgresBatches.allSatisfy { $0.hasPrefix("batch_") })
        try pair.sameTimes()

        let status = try await pair.expectSame(["status"])
        #expect(status.contains("BATCH-1") && status.contains("BATCH-2  \"waiting\""), "\(status)")
        try await pair.expectSame(["status", "{B1}"])
        try await pair.expectSame(["status", "waiting", "--json"])
        try await pair.expectSame(["status", "--json"])
        for format in ["openai", "jsonl", "csv", "text"] {
            let results = try await pair.expectSame(["results", "{B1}", "--format", format])
            #expect(results.contains("chat-3") && results.contains("emb-1"), "\(format): \(results)")
        }
        try await pair.expectSame(["results", "{B1}", "--format", "jsonl", "--state", "failed", "succeeded"])
        try await pair.expectSame(["results", "waiting", "--format", "csv"])
        try await pair.expectSame(["show", "chat-2", "--batch", "{B1}"])
        try await pair.expectSame(["show", "refused", "--batch", "{B1}", "--json"])
        try await pair.expectSame(["show", "emb-1", "--batch", "{B1}"])
        try await pair.expectSame(["show", "5"])
        try await pair.expectSame(["show", "chat-0"], status: 1)  // in both batches
        try await pair.expectSame(["show", "nope"], status: 1)
        try await pair.expectSame(["results", "batch_nope"], status: 1)
        // The estimate of what a batch has left, calibrated by the finished jobs of either database.
        let estimate = try await pair.expectSame(["estimate", "waiting", "--json"])
        #expect(estimate.contains("gpt-4o-mini"), "\(estimate)")
        try await pair.expectSame(["estimate", waiting])
        try await pair.expectSame(["estimate", "batch_nope"], status: 1)
        let table = try await pair.expectSame(["sql", "SELECT custom_id, state, attempts, prompt_tokens, error_kind FROM results ORDER BY custom_id, state"])
        #expect(table.contains("(10 rows)"), "\(table)")
        try await pair.expectSame(["sql", "--json", "SELECT custom_id, output, cost_usd, duration_ms FROM results WHERE state = 'succeeded' ORDER BY custom_id"])
        try await pair.expectSame(["sql", "SELECT state, count(*) AS jobs, sum(completion_tokens) AS tokens FROM jobs GROUP BY state ORDER BY state"])
        // The report: the same page, written to a file each.
        let liteReport = try await ChoreoBinary.run(["report", pair.sqliteBatches[0], "--output", pair.scratch.file("lite.html"), "--db", pair.sqlite])
        let pgReport = try await ChoreoBinary.run(["report", pair.postgresBatches[0], "--output", pair.scratch.file("pg.html"), "--db", pair.url])
        #expect(liteReport.status == 0 && pgReport.status == 0, "\(pgReport.output)")
        let litePage = pair.masked(try String(contentsOfFile: pair.scratch.file("lite.html"), encoding: .utf8), pair.sqliteBatches)
        let pgPage = pair.masked(try String(contentsOfFile: pair.scratch.file("pg.html"), encoding: .utf8), pair.postgresBatches)
        let firstDifference = zip(litePage.split(separator: "\n"), pgPage.split(separator: "\n")).first { $0 != $1 }
        #expect(litePage == pgPage && pgPage.contains("chat-3") && pgPage.contains("refused"),
                "the report pages differ, first at: \(firstDifference.map { "SQLite \($0.0.prefix(300)) / PostgreSQL \($0.1.prefix(300))" } ?? "the length")")
        #expect(!pgReport.output.contains(Self.password) && !pgPage.contains(Self.password))

        // Changing batches: the same jobs change, and the commands say the same.
        try await pair.expectSame(["cancel", "waiting"])
        try await pair.expectSame(["cancel", "{B1}"])  // already completed: nothing to cancel
        try await pair.expectSame(["resume", "waiting", "--no-run"])  // cancelled: refuses without --cancelled
        try pair.sameTimes()
        try await pair.expectSame(["status", "waiting"])
        try await pair.expectSame(["resume", "waiting", "--cancelled", "--no-run"])
        try await pair.expectSame(["resume", "{B1}", "--all", "--no-run"])
        try pair.sameTimes()
        try await pair.expectSame(["status"])
        try await pair.expectSame(["results", "{B1}", "--format", "jsonl", "--state", "pending"])
        try await pair.expectSame(["cancel", "batch_nope"], status: 1)

        // The request cache: the same answers kept on both (their locations differ), and cleared.
        let stats = try await pair.run(["cache", "stats", "--json"])
        let lite = try JSONValue.parse(stats.sqlite.stdout), pg = try JSONValue.parse(stats.postgres.stdout)
        #expect(lite["entries"] == pg["entries"] && lite["models"] == pg["models"] && (pg["entries"]?.intValue ?? 0) > 0, "\(pg)")
        #expect(pg["location"]?.stringValue?.hasPrefix("postgres://choreo:***@") == true, "\(pg)")
        let cleared = try await pair.run(["cache", "clear"])
        #expect(cleared.postgres.status == 0 && cleared.postgres.stderr.components(separatedBy: " from the cache of ").first
                == cleared.sqlite.stderr.components(separatedBy: " from the cache of ").first, "\(cleared.postgres.output)")
        // What clear takes out is what stats counted.
        #expect(cleared.postgres.stderr.hasPrefix("cleared \(pg["entries"]?.intValue ?? -1) answers"), "\(cleared.postgres.output)")
        #expect(!cleared.postgres.output.contains(Self.password) && !stats.postgres.output.contains(Self.password))
        let after = try await pair.run(["cache", "stats", "--json"])
        let (liteAfter, pgAfter) = (try JSONValue.parse(after.sqlite.stdout), try JSONValue.parse(after.postgres.stdout))
        #expect(liteAfter["entries"] == 0 && pgAfter["entries"] == 0)
    }

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func sqlOnPostgresRefusesEveryWriteAndChangesNothing() async throws {
        let pair = try Pair()
        let file = pair.scratch.write("jobs.jsonl", lines: Self.jobLines.prefix(3).map(\.jsonString))
        let submit = try await ChoreoBinary.run(["submit", file, "--db", pair.url])
        #expect(submit.status == 0, "\(submit.output)")
        let writes = [
            "UPDATE jobs SET state = 'failed'", "DELETE FROM jobs", "INSERT INTO prefill_refusals VALUES ('m', 'x', 0)",
            "CREATE TABLE mine (a integer)", "DROP TABLE jobs", "TRUNCATE jobs",
            "WITH gone AS (DELETE FROM jobs RETURNING id) SELECT count(*) FROM gone",
            "SET TRANSACTION READ WRITE", "SELECT nextval('jobs_id_seq')",
        ]
        for sql in writes {
            let run = try await ChoreoBinary.run(["sql", sql, "--db", pair.url])
            #expect(run.status == 1 && run.stderr.contains("choreo sql only reads"), "\(sql): \(run.output)")
            #expect(!run.output.contains(Self.password))
        }
        // Two statements are refused as one call (the second would run outside any check).
        let two = try await ChoreoBinary.run(["sql", "SELECT 1; DELETE FROM jobs", "--db", pair.url])
        #expect(two.status == 1 && two.stderr.contains("cannot insert multiple commands"), "\(two.output)")
        // COPY's data is no query result: refused, and the connection does not wait for it forever.
        let copy = try await ChoreoBinary.run(["sql", "COPY jobs TO STDOUT", "--db", pair.url])
        #expect(copy.status == 1 && copy.stderr.contains("COPY with STDIN or STDOUT is not supported here"), "\(copy.output)")
        // A COMMIT of its own commits the read-only transaction, which has nothing to commit.
        let commit = try await ChoreoBinary.run(["sql", "COMMIT", "--db", pair.url])
        #expect(commit.status == 0, "\(commit.output)")
        let slow = try await ChoreoBinary.run(["sql", "SELECT pg_sleep(30)", "--timeout", "300ms", "--db", pair.url])
        #expect(slow.status == 1 && slow.stderr.contains("the query was stopped after running 0.3s"), "\(slow.output)")

        let db = try pair.postgres.connect()
        #expect(try db.queryOne("SELECT count(*) FROM jobs WHERE state = 'pending'") { $0.int(0) } == 3)
        #expect(try db.queryOne("SELECT count(*) FROM prefill_refusals") { $0.int(0) } == 0)
        #expect(try db.queryOne("SELECT to_regclass('mine') IS NULL") { $0.bool(0) } == true)
    }

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func aDatabaseWithoutChoreoTablesIsAUsageError() async throws {
        let pair = try Pair()
        for command in [["status"], ["results", "b"], ["show", "j"], ["sql", "SELECT 1"], ["cancel", "b"], ["resume", "b", "--no-run"],
                        ["report"], ["index", "on"], ["cache", "stats"], ["estimate", "b"]] {
            let run = try await ChoreoBinary.run(command + ["--db", pair.url])
            #expect(run.status == 2 && run.stderr.contains("is not a Choreo database yet"), "\(command): \(run.output)")
            #expect(!run.output.contains(Self.password) && run.output.contains("***"), "\(run.output)")
        }
    }
}
