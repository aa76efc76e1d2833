import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// Issue 12.8: models that refuse a prefill (Claude 4.6 and later) get their cut jobs restarted,
/// known from a built-in rule, from `choreo.json`, or learned from the provider's 400, which is
/// then remembered in the database; `show` says how each cut job went on, and why.
@Suite("Continuation on models that refuse a prefill")
struct PrefillRefusalTests {
    static let messages: [JSONValue] = [["role": "user", "content": "Describe the seam"]]

    static func line(_ id: String, model: String) -> JSONValue {
        ["custom_id": .string(id), "model": .string(model), "messages": .array(messages), "max_tokens": 200]
    }

    /// Runs `fixture` against `server` with Anthropic's `prefill` entries set to `prefillModels`.
    static func run(_ fixture: Fixture, _ server: MockServer, prefillModels: [String: Bool] = [:], maxAttempts: Int = 6) async throws -> RunSummary {
        var router = Fixture.router(server)
        for i in router.providers.indices where router.providers[i].kind == .anthropic { router.providers[i].prefillModels = prefillModels }
        let options = fixture.options { $0.retry = RetryPolicy(maxAttempts: maxAttempts, baseDelay: 0.01, maxDelay: 0.1) }
        return try await BatchRunner(databasePath: fixture.databasePath, options: options, router: router).run()
    }

    static func attempts(_ fixture: Fixture, _ id: String) throws -> [JobDetail.Attempt] {
        try JobDetail.load(Database(path: fixture.databasePath, readOnly: true), job: id, batch: fixture.batchID).attempts
    }

    @Test func aCutJobOfAModelThatRefusesPrefillRestartsByTheBuiltInRule() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 4)) { server in
        let fixture = try Fixture(lines: [Self.line("new", model: "claude-opus-4-6"), Self.line("old", model: "claude-sonnet-4-5")])
        let summary = try await Self.run(fixture, server)
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        let new = try Self.attempts(fixture, "new")
        #expect(new.map(\.continuation) == [nil, "restart"])
        #expect(new.last?.continuationReason?.contains("built-in rule") == true)
        let old = try Self.attempts(fixture, "old")
        #expect(old.map(\.continuation) == [nil, "prefill"])
        // Nothing was sent that the model refuses.
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'prefill_refused'") == 0)
    }
    }

    /// `choreo.json` says the model takes a prefill; the provider answers 400. The run learns it,
    /// restarts the job without counting the refused attempt (one attempt allowed, and it still
    /// succeeds), remembers the model in the database, and the next run restarts at once.
    @Test func aRefusedPrefillIsLearnedRestartedUncountedAndRemembered() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 4)) { server in
        let fixture = try Fixture(lines: [Self.line("a", model: "claude-sonnet-4-6")])
        let summary = try await Self.run(fixture, server, prefillModels: ["claude-sonnet-4-6": true], maxAttempts: 2)
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        let a = try Self.attempts(fixture, "a")
        // Checked before indexing: other attempts would crash the whole test process, not fail this test.
        try #require(a.map(\.outcome) == ["retry", "restart", "succeeded"], "\(a.map { ($0.outcome, $0.errorKind ?? "") })")
        #expect(a.map(\.continuation) == [nil, "prefill", "restart"])
        #expect(a[1].errorKind == "prefill_refused" && a[1].httpStatus == 400)
        #expect(a[1].continuationReason?.contains("choreo.json") == true)
        #expect(a[2].continuationReason?.contains("refused a prefill earlier") == true)
        #expect(try fixture.scalar("SELECT count(*) FROM prefill_refusals WHERE model = 'claude-sonnet-4-6'") == 1)

        // A later run on this database: a new batch of the same model, cut the same way.
        let file = fixture.directory.appendingPathComponent("more.jsonl")
        try (Self.line("b", model: "claude-sonnet-4-6").jsonString + "\n").write(to: file, atomically: true, encoding: .utf8)
        let batch = try BatchSubmitter(database: Database(path: fixture.databasePath)).submit(file: file.path).batchID
            try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 4)) { again in
        var router = Fixture.router(again)
        for i in router.providers.indices where router.providers[i].kind == .anthropic { router.providers[i].prefillModels = ["claude-sonnet-4-6": true] }
        let next = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.batch = batch }, router: router).run()
        #expect(next.exitCode == 0)
        let b = try JobDetail.load(Database(path: fixture.databasePath, readOnly: true), job: "b", batch: batch)
        #expect(b.attempts.map(\.continuation) == [nil, "restart"])
        #expect(b.record.output == MockContent.reply(model: "claude-sonnet-4-6", messages: Self.messages, maxTokens: 200).text)
        // `show` says how and why.
        let shown = b.rendered()
        #expect(shown.contains("restart"))
        #expect(shown.contains("#2: restart: claude-sonnet-4-6 refused a prefill earlier (HTTP 400: This model does not support assistant message prefill"))
    }
        }
    }

    @Test func theMockRefusesAPrefillLikeTheAPI() async throws {
        try await withMockServer { server in
        let client = ChoreoClient(router: Fixture.router(server))
        for (model, thinking, refused) in [("claude-opus-4-7", false, true), ("claude-sonnet-5", false, true), ("claude-sonnet-4-5", false, false),
                                           ("claude-3-5-sonnet-20241022", false, false), ("claude-sonnet-4-5", true, true)] {
            // A prefill the mock would take: the reply's first word.
            let prefill = MockContent.tokens(model: model, messages: Self.messages)[0]
            var body: JSONValue = ["model": .string(model), "max_tokens": 50,
                                   "messages": .array(Self.messages + [["role": "assistant", "content": .string(prefill)]])]
            if thinking { body["thinking"] = ["type": "enabled", "budget_tokens": 1024] }
            do {
                _ = try await client.stream(body: body, provider: client.provider(for: model), delivery: .collected).collect()
                #expect(!refused, "\(model) accepted a prefill")
            } catch let error as APIError {
                #expect(refused, "\(model): \(error)")
                #expect(error.status == 400)
                #expect(PrefillSupport.isRefusal(error) == !thinking, "\(model): \(error.message)")
            }
        }
    }
    }
}
