import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// A `timeout` bounds each attempt's whole time, however steadily its stream progresses: an
/// attempt that runs over ends as `attempt_timeout` with the text it received, and the next one
/// continues it (or restarts), as after a stall. Set per job (its line), per provider
/// (`choreo.json`) or for a run (`--timeout`), the most specific winning.
@Suite("Attempt timeouts")
struct AttemptTimeoutTests {
    /// The mock streams a chunk every 50 ms: never a stall, but a long answer takes seconds.
    static let paced = MockConfig(chunkDelay: .milliseconds(50))

    /// Messages whose mock answer is at least 40 tokens (2 s at the paced rate: four times a
    /// 0.5 s timeout), found by asking the mock's own content function, and distinct per `tag`.
    static func longPrompt(_ tag: String) -> [JSONValue] {
        for i in 0... {
            let messages: [JSONValue] = [["role": "user", "content": .string("Tell me the long story of \(tag), take \(i)")]]
            if MockContent.tokens(model: "gpt-4o-mini", messages: messages).count >= 40 { return messages }
        }
        fatalError("unreachable")
    }

    /// A job line: the OpenAI Batch form, with its own `timeout` when given.
    static func line(_ id: String, timeout: Double? = nil) -> JSONValue {
        var line: [String: JSONValue] = ["custom_id": .string(id), "body": ["model": "gpt-4o-mini", "messages": .array(longPrompt(id))]]
        if let timeout { line["timeout"] = .double(timeout) }
        return .object(line)
    }

    /// Each attempt of `customID`: its error kind (nil for the one that succeeded) and how it continued.
    static func attempts(_ fixture: Fixture, _ customID: String) throws -> [(kind: String?, continuation: String?)] {
        let db = try Database(path: fixture.databasePath, readOnly: true)
        var out: [(String?, String?)] = []
        try db.query("""
            SELECT a.error_kind, a.continuation FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.custom_id = ? ORDER BY a.number
            """, [.text(customID)]) { out.append(($0.string(0), $0.string(1))) }
        return out
    }

    /// Every attempt but the last ran over its timeout, the last succeeded, and some continued the kept text.
    static func expectTimedOutThenContinued(_ fixture: Fixture, _ customID: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let attempts = try attempts(fixture, customID)
        #expect(attempts.count >= 2, "the timeout never fired: \(attempts)", sourceLocation: sourceLocation)
        #expect(attempts.dropLast().allSatisfy { $0.kind == "attempt_timeout" }, "\(attempts)", sourceLocation: sourceLocation)
        #expect(attempts.last?.kind == nil, "\(attempts)", sourceLocation: sourceLocation)
        #expect(attempts.contains { $0.continuation == "continue_final_message" }, "the kept text was not continued: \(attempts)",
                sourceLocation: sourceLocation)
    }

    @Test func aSlowStreamPastItsLinesTimeoutIsContinuedToTheExactText() async throws {
        try await withMockServer(config: Self.paced) { server in
            let fixture = try Fixture(lines: [Self.line("slow", timeout: 0.5)])
            let summary = try await fixture.run(server) {
                $0.continuePartial = true
                $0.retry.maxAttempts = 30
            }
            #expect(summary.succeeded == 1 && summary.failed == 0, "\(summary)")
            try fixture.expectAllExact()
            try Self.expectTimedOutThenContinued(fixture, "slow")
        }
    }

    /// choreo.json's `timeout` bounds the provider's jobs without their own; a line's own wins.
    @Test func theConfigurationsTimeoutHoldsForJobsWithoutTheirOwn() async throws {
        try await withMockServer(config: Self.paced) { server in
            let config = #"{"providers": [{"name": "openai", "kind": "openai", "models": ["*"], "prefill": true, "timeout": 0.5}]}"#
            let router = try ProviderConfiguration.router(parsing: Array(config.utf8), file: "choreo.json", environment: [:])
            let fixture = try Fixture(lines: [Self.line("bounded"), Self.line("own", timeout: 60)])
            var options = fixture.options()
            options.retry.maxAttempts = 30
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: options,
                                                router: router.pointed(at: server.baseURL)).run()
            #expect(summary.succeeded == 2, "\(summary)")
            try fixture.expectAllExact()
            try Self.expectTimedOutThenContinued(fixture, "bounded")
            #expect(try Self.attempts(fixture, "own").count == 1, "the line's own 60 s held, not the provider's 0.5 s")
        }
    }

    /// `run --timeout` reaches every provider through the command line, and the run says why it retried.
    @Test func runTimeoutBoundsEveryJobOfTheRun() async throws {
        let scratch = TemporaryDirectory()
        let db = scratch.databasePath
        let messages = Self.longPrompt("cli")
        let line: JSONValue = ["custom_id": "cli", "model": "gpt-4o-mini", "messages": .array(messages)]
        let file = scratch.write("jobs.jsonl", lines: [line.jsonString])
        let submit = try await ChoreoBinary.run(["submit", file, "--db", db])
        #expect(submit.status == 0, "\(submit.output)")
        let run = try await ChoreoBinary.run(["run", "--db", db, "--mock", "--mock-chunk-delay-ms", "50", "--timeout", "1",
                                              "--continue-partial", "--max-attempts", "30", "--log-format", "json"])
        #expect(run.status == 0, "\(run.output)")
        let database = try Database(path: db, readOnly: true)
        #expect(try database.queryOne("SELECT output FROM jobs") { $0.string(0) } == MockContent.reply(model: "gpt-4o-mini", messages: messages, maxTokens: nil).text)
        let kinds = try database.queryOne("SELECT group_concat(coalesce(error_kind, 'ok'), ' ') FROM attempts") { $0.string(0) } ?? nil
        #expect(kinds?.hasPrefix("attempt_timeout") == true && kinds?.hasSuffix("ok") == true, "\(String(describing: kinds))")
        #expect(run.stderr.contains("attempt_timeout"), "\(run.stderr.suffix(800))")
    }
}
