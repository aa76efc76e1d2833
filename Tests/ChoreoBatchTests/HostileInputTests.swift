import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// Job lines, queries and stored text written by someone hostile (RELIABILITY.md, "Hostile input").
@Suite("Hostile input")
struct HostileInputTests {
    /// Submits `lines` and returns the rejections as "line field code".
    func rejections(_ lines: [String]) throws -> [JobLineError] {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: lines)
        let db = try dir.database()
        let error = try #require(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: path) }
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
        return error.errors
    }

    @Test func modelNameThatWouldRewriteTheURLIsRejectedWithItsLine() throws {
        let errors = try rejections([
            batchLine("ok"),
            batchLine("evil", model: "../../admin/delete?confirm=1&key="),
            #"{"custom_id":"short","model":"gpt 4o#frag","messages":[{"role":"user","content":"hi"}]}"#,
            #"{"custom_id":"ctl","model":"gpt-4o\u001b[2J","messages":[{"role":"user","content":"hi"}]}"#,
        ])
        #expect(errors.map { "\($0.line) \($0.field ?? "-") \($0.code)" } == ["2 body.model invalid_value", "3 model invalid_value", "4 model invalid_value"])
        #expect(errors[0].message.contains("\"?\""), "\(errors[0].message)")
        #expect(errors[0].message.contains(JobLineValidator.modelNameCharacters))
        #expect(errors[2].message.contains("U+1B"), "\(errors[2].message)")
    }

    @Test func modelNamesProvidersUseAreAccepted() {
        for model in ["gpt-4o-mini", "claude-sonnet-4-5", "models/gemini-2.5-flash", "ft:gpt-4o-mini:org::abc123",
                      "meta-llama/Llama-3.1-8B-Instruct", "@cf/meta/llama-3-8b", "llama3.1:8b", "anthropic.claude-v2:1", "a+b_c.d"] {
            #expect(JobLineValidator.modelNameProblem(model) == nil, "\(model)")
        }
        #expect(JobLineValidator.modelNameProblem(String(repeating: "m", count: 257)) != nil)
    }

    @Test func duplicateKeysAreRejectedAtAnyDepthWithTheLineAndPath() throws {
        let errors = try rejections([
            batchLine("ok"),
            // The validator used to check one "body" and store the other.
            #"{"custom_id":"d2","body":{"model":"m","messages":[{"role":"user","content":"hi"}]},"body":{"model":"m","messages":"NOT AN ARRAY"}}"#,
            #"{"custom_id":"d3","body":{"model":"m","messages":[{"role":"user","content":"hi","role":"system"}]}}"#,
            // The same key spelled with an escape is the same key.
            #"{"custom_id":"d4","body":{"model":"m","messages":[{"role":"user","content":"hi"}]},"bo\u0064y":{"model":"m","messages":"NOT AN ARRAY"}}"#,
            #"{"custom_id":"d5","model":"m","messages":[{"role":"user","content":"hi"}],"model":"other"}"#,
        ])
        #expect(errors.map { "\($0.line) \($0.field ?? "-") \($0.code)" } == [
            "2 body duplicate_key", "3 body.messages[0].role duplicate_key", "4 body duplicate_key", "5 model duplicate_key",
        ])
    }

    @Test func aLineWithAnEscapedKeyStoresWhatWasValidated() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [#"{"custom_id":"e","bo\u0064y":{"model":"m","messages":[{"role":"user","content":"hi"}]}}"#])
        let db = try dir.database()
        _ = try BatchSubmitter(database: db).submit(file: path)
        let stored = try #require(try db.queryOne("SELECT request FROM job_requests") { $0.string(0) ?? "" })
        #expect(try JSONValue.parse(stored) == ["model": "m", "messages": [["role": "user", "content": "hi"]]])
    }

    @Test func numbersADoubleCannotHoldAreRejectedWithTheLine() throws {
        let errors = try rejections([
            batchLine("ok"),
            batchLine("t", extra: #","temperature":1e999"#),
            batchLine("u", extra: #","top_p":-1E+400"#),
            batchLine("v", extra: #","metadata":{"x":[1,2,9e9999]}"#),
        ])
        #expect(errors.map { "\($0.line) \($0.code)" } == ["2 invalid_json_line", "3 invalid_json_line", "4 invalid_json_line"])
        #expect(errors[0].message.contains("number out of range: 1e999"), "\(errors[0].message)")
        // Small numbers round to zero, as every JSON reader does; they are not an error.
        #expect(try JSONValue.parse("1e-999") == .double(0))
    }

    @Test func theParserKeepsTheLastCopyUnlessAskedToReject() throws {
        #expect(try JSONValue.parse(#"{"a":1,"a":2}"#) == ["a": 2])
        let error = try #require(throws: JSONParseError.self) { try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8), rejectingDuplicateKeys: true) }
        #expect(error.isDuplicateKey && error.offset == 7)
    }

    // MARK: - The read-only connection

    func readOnlyDatabase(_ dir: TemporaryDirectory) throws -> Database {
        _ = try dir.database()
        return try dir.database(readOnly: true)
    }

    @Test func vacuumIntoIsRefusedBeforeTheFileExists() throws {
        let dir = TemporaryDirectory()
        let ro = try readOnlyDatabase(dir)
        let target = dir.file("copy.db")
        let error = try #require(throws: QueryError.self) {
            try QueryOutput.run(ro, sql: "VACUUM INTO '\(target)'", format: .table, to: BufferedWriter(fileDescriptor: -1))
        }
        #expect("\(error)".contains("choreo sql only reads"))
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func attachAndSettingChangesAreRefusedAndReadsStillWork() throws {
        let dir = TemporaryDirectory()
        let ro = try readOnlyDatabase(dir)
        let other = dir.file("other.db")
        for sql in ["ATTACH '\(other)' AS o", "PRAGMA query_only = OFF", "CREATE TEMP TABLE t (a)", "PRAGMA user_version = 99",
                    "INSERT INTO runners (id, pid) VALUES ('r', 1)", "DETACH main", "ANALYZE"] {
            #expect(throws: QueryError.self, "\(sql)") {
                try QueryOutput.run(ro, sql: sql, format: .table, to: BufferedWriter(fileDescriptor: -1))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: other))
        #expect(try ro.queryOne("PRAGMA user_version") { $0.int(0) } == Schema.currentVersion)
        #expect(try ro.queryOne("PRAGMA query_only") { $0.int(0) } == 1)
        var columns = 0
        try ro.query("PRAGMA table_info(jobs)") { _ in columns += 1 }
        #expect(columns > 5)
        #expect(try ro.queryOne("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 10) SELECT sum(x) FROM r") { $0.int(0) } == 55)
    }

    @Test func aQueryThatNeverEndsIsStoppedByTheTimeLimit() throws {
        let dir = TemporaryDirectory()
        let ro = try readOnlyDatabase(dir)
        let start = Date()
        let error = try #require(throws: QueryError.self) {
            try QueryOutput.run(ro, sql: "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
                                format: .table, timeLimit: 0.2, to: BufferedWriter(fileDescriptor: -1))
        }
        #expect(Date().timeIntervalSince(start) < 20)
        #expect("\(error)".contains("stopped after running 0.2s"), "\(error)")
        #expect("\(error)".contains("--timeout"))
        // The limit was removed with the query: the connection works on.
        #expect(try ro.queryOne("SELECT 1") { $0.int(0) } == 1)
    }

    // MARK: - Text shown on a terminal

    @Test func controlCharactersAreEscapedForATerminal() {
        #expect(TerminalText.escaped("job\u{1B}]0;owned\u{07}\u{1B}[2J ok") == #"job\x1B]0;owned\x07\x1B[2J ok"#)
        #expect(TerminalText.escaped("a\rb\u{7F}c\u{9B}31m") == #"a\x0Db\x7Fc\u009B31m"#)
        #expect(TerminalText.escaped("lines\nand\ttabs, é ü 中 stay") == "lines\nand\ttabs, é ü 中 stay")
    }
}
