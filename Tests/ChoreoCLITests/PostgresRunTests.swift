import ChoreoAI
import ChoreoSQLite
import ChoreoMock
import ChoreoPostgres
import ChoreoTesting
import Foundation
import Testing
import ChoreoBatch

/// `--db postgres://…` from the command line (issue 15): submit and run against a real
/// PostgreSQL server, with exact text.
@Suite struct PostgresRunTests {
    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func submitAndRunOnPostgresEndWithEveryJobsExactText() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let scratch = TemporaryDirectory()
        let prompts = (0..<12).map { "Question \($0): name a moon" }
        let lines: [JSONValue] = prompts.enumerated().map { i, prompt in
            ["custom_id": .string("pg-\(i)"), "model": "gpt-4o-mini", "max_tokens": 30,
             "messages": [["role": "user", "content": .string(prompt)]]]
        }
        let file = scratch.write("jobs.jsonl", lines: lines.map(\.jsonString))
        let submit = try await ChoreoBinary.run(["submit", file, "--db", database.url])
        #expect(submit.status == 0, "\(submit.output)")
        let run = try await ChoreoBinary.run(["run", "--mock", "--mock-chunk-delay-ms", "1", "--db", database.url])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("12 succeeded, 0 failed"), "\(run.stderr)")

        let db = try database.connect()
        var outputs: [String: String] = [:]
        try db.query("SELECT custom_id, output FROM jobs WHERE state = 'succeeded'") { outputs[$0.string(0)!] = $0.string(1) }
        #expect(outputs.count == 12)
        for (i, prompt) in prompts.enumerated() {
            let expected = MockContent.reply(model: "gpt-4o-mini", messages: [["role": "user", "content": .string(prompt)]], maxTokens: 30).text
            #expect(outputs["pg-\(i)"] == expected, "pg-\(i)")
        }
        // The full-text index over outputs: a GIN index the server keeps, used by queries that
        // spell its expression; off drops it.
        let index = try await ChoreoBinary.run(["index", "on", "--db", database.url])
        #expect(index.status == 0 && index.stderr.contains("on (index outputs_fts"), "\(index.output)")
        func words(_ text: String) -> [String] {
            text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { String($0) }
        }
        let word = try #require(words(outputs["pg-3"] ?? "").first { $0.count > 3 })
        let expected = outputs.filter { words($0.value).contains(word) }
        let found = try await ChoreoBinary.run(["sql", "--db", database.url, """
            SELECT custom_id FROM jobs WHERE to_tsvector('simple', coalesce(output, '')) @@ plainto_tsquery('simple', '\(word)') ORDER BY custom_id
            """])
        #expect(found.status == 0 && found.stdout.contains("pg-3"), "\(found.output)")
        #expect(Set(found.stdout.split(separator: "\n").filter { $0.hasPrefix("pg-") }.map { String($0).trimmingCharacters(in: .whitespaces) })
                == Set(expected.keys), "\(word): \(found.stdout)")
        #expect(try database.connect().queryOne("SELECT count(*) FROM pg_indexes WHERE indexname = 'outputs_fts'") { $0.int(0) } == 1)
        let off = try await ChoreoBinary.run(["index", "off", "--db", database.url])
        #expect(off.status == 0 && off.stderr.contains("full-text index over outputs off"), "\(off.output)")
        #expect(try database.connect().queryOne("SELECT count(*) FROM pg_indexes WHERE indexname = 'outputs_fts'") { $0.int(0) } == 0)
    }

    /// A budget stored with `submit --budget` on PostgreSQL holds across runners: two `choreo run`
    /// processes started at once spend at most the cap between them, and both stop on it.
    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func aStoredBudgetHoldsForTwoRunnersAtOnce() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let scratch = TemporaryDirectory()
        let lines: [JSONValue] = (0..<80).map { i in
            ["custom_id": .string("b-\(i)"), "model": "gpt-4o-mini", "max_tokens": 30,
             "messages": [["role": "user", "content": .string("Question \(i): name a moon")]]]
        }
        let file = scratch.write("jobs.jsonl", lines: lines.map(\.jsonString))
        let cap = 0.0003  // about ten jobs' worst case at gpt-4o-mini's built-in price
        let submit = try await ChoreoBinary.run(["submit", file, "--db", database.url, "--budget", String(cap)])
        #expect(submit.status == 0, "\(submit.output)")
        let arguments = ["run", "--mock", "--mock-chunk-delay-ms", "2", "--concurrency", "4", "--db", database.url]
        async let first = ChoreoBinary.run(arguments)
        async let second = ChoreoBinary.run(arguments)
        let runs = try await [first, second]
        for run in runs { #expect(run.status == 3 && run.stderr.contains("budget reached"), "\(run.output)") }
        let db = try database.connect()
        let spent = try db.queryOne("SELECT coalesce(sum(cost_usd), 0) FROM attempts") { $0.double(0) ?? 0 } ?? 0
        #expect(spent <= cap + 1e-12, "two runners spent $\(spent) under a $\(cap) budget")
        #expect(spent > cap / 2, "too little was spent to tell: $\(spent)")
        #expect((try db.queryOne("SELECT count(*) FROM jobs WHERE state = 'pending'") { $0.int(0) ?? 0 } ?? 0) > 0)
    }

    /// A file mixing chat, embeddings and Responses lines gives the same rows on PostgreSQL as on
    /// SQLite: the same text, the same vectors byte for byte.
    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func aMixedFileGivesTheSameAnswersOnPostgresAsOnSQLite() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let scratch = TemporaryDirectory()
        var lines: [JSONValue] = (0..<3).map { i in
            ["custom_id": .string("chat-\(i)"), "model": "gpt-4o-mini", "max_tokens": 20,
             "messages": [["role": "user", "content": .string("Say something \(i)")]]]
        }
        lines += (0..<3).map { i in
            ["custom_id": .string("emb-\(i)"), "method": "POST", "url": "/v1/embeddings",
             "body": ["model": "text-embedding-3-small", "input": .string("vector \(i)"), "dimensions": 8]]
        }
        lines += (0..<2).map { i in
            ["custom_id": .string("resp-\(i)"), "method": "POST", "url": "/v1/responses",
             "body": ["model": "gpt-4.1-mini", "input": .string("Say something \(i)"), "max_output_tokens": 20]]
        }
        let file = scratch.write("mixed.jsonl", lines: lines.map(\.jsonString))
        let sqlite = scratch.file("mixed.sqlite")
        for db in [database.url, sqlite] {
            let run = try await ChoreoBinary.run(["submit", file, "--run", "--mock", "--mock-chunk-delay-ms", "1", "--db", db])
            #expect(run.status == 0, "\(run.output)")
        }
        var onPostgres: [String: String] = [:], onSQLite: [String: String] = [:]
        try database.connect().query(
            "SELECT custom_id, url || '|' || coalesce(output, '') || '|' || coalesce(dimensions::text, '') || '|' || coalesce(encode(embedding, 'hex'), '') || '|' || coalesce(response::json->>'object', '') FROM jobs"
        ) { onPostgres[$0.string(0)!] = $0.string(1) }
        let lite = try Database(path: sqlite, readOnly: true)
        try lite.query("SELECT custom_id, url || '|' || coalesce(output, '') || '|' || coalesce(dimensions, '') || '|' || lower(coalesce(hex(embedding), '')) || '|' || coalesce(json_extract(response, '$.object'), '') FROM jobs") {
            onSQLite[$0.string(0)!] = $0.string(1)
        }
        #expect(onPostgres.count == 8 && onPostgres == onSQLite)
        // A Responses job's answer is the chat answer to the same conversation, and its stored body a response object.
        #expect(onPostgres["resp-1"]?.hasSuffix("|response") == true && onPostgres["resp-1"]?.contains("|" + MockContent.reply(
            model: "gpt-4.1-mini", messages: [["role": "user", "content": "Say something 1"]], maxTokens: 20).text + "|") == true)
        #expect(onPostgres["emb-0"]?.hasSuffix("|") == false && onPostgres["emb-0"]?.contains("|8|") == true)
    }

    /// `submit -` reads the jobs from standard input on PostgreSQL as on SQLite (it was refused),
    /// and the batch records `<stdin>` as its source.
    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func submitDashReadsTheJobsFromStandardInput() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let lines = (1...3).map { #"{"custom_id":"s\#($0)","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi \#($0)"}]}"# }
        let submit = try await ChoreoBinary.run(["submit", "-", "--db", database.url], input: lines.joined(separator: "\n") + "\n")
        #expect(submit.status == 0, "\(submit.output)")
        #expect(submit.stderr.contains("submitted 3 jobs"), "\(submit.output)")
        let db = try database.connect()
        #expect(try db.queryOne("SELECT source_file FROM batches") { $0.string(0) } == "<stdin>")
        #expect(try db.queryOne("SELECT count(*) FROM jobs") { $0.int(0) } == 3)
        // The same lines again are the same batch, as for a file.
        let again = try await ChoreoBinary.run(["submit", "-", "--db", database.url], input: lines.joined(separator: "\n") + "\n")
        #expect(again.status == 0 && again.stderr.contains("already submitted"), "\(again.output)")
    }

    @Test func aPasswordInTheURLIsNeverPrinted() async throws {
        // Nothing listens on this port: the connection fails, and the message must not carry the password.
        let url = "postgres://choreo:s3cr3t-pw@127.0.0.1:1/nothing"
        let run = try await ChoreoBinary.run(["run", "--mock", "--db", url])
        #expect(run.status != 0)
        #expect(!run.output.contains("s3cr3t-pw"), "\(run.output)")
        #expect(run.output.contains("***"), "\(run.output)")
    }
}
