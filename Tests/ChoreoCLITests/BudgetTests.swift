import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite

/// `--budget`: reserve each job's worst case, settle on what it was billed, never pass the cap.
@Suite struct BudgetTests {
    /// Dear prices, so that a few mock jobs make a visible sum.
    static let prices = PriceTable(entries: [("*", Price(input: 100, cachedInput: 10, output: 1000, source: "test"))])

    /// Under faults (drops, streams cut after their usage was sent, 500s, garbled chunks) and 16
    /// streams at once across the three wire formats, the run stops at the cap, and what the mock
    /// billed, priced, is at most what Choreo recorded, which is at most the cap.
    @Test func spentNeverExceedsTheCapUnderFaultsAndConcurrency() async throws {
        try await withMockServer(config: MockConfig(
            faultRate: 0.5, faultKinds: [.drop, .cutAfterUsage, .serverError, .malformed], maxFaultsPerRequest: 2, seed: 11, retryAfterMs: 20)) { server in
        let fixture = try Fixture(count: 90, models: ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.0-flash"], maxTokens: 20)
        let cap = 0.6
        let summary = try await fixture.run(server) { o in
            o.concurrency = 16
            o.prices = Self.prices
            o.budget = cap
        }
        #expect(summary.ending == .budget)
        #expect(summary.exitCode == 3)
        #expect(summary.left > 0)
        let db = try Database(path: fixture.databasePath)
        let recorded = try db.queryOne("SELECT coalesce(sum(cost_usd), 0) FROM attempts") { $0.double(0) ?? 0 } ?? 0
        let stats = server.stats()
        let billed = Self.prices.price(for: "any")!.cost(CompletionUsage(promptTokens: stats.billedPromptTokens, completionTokens: stats.billedCompletionTokens,
                                                               cachedPromptTokens: stats.billedCachedPromptTokens))
        #expect(recorded <= cap + 1e-9)
        #expect(billed <= recorded + 1e-9)
        #expect(summary.budget.map { abs($0.spent - recorded) < 1e-9 && $0.limit == cap } == true)
        // The faults happened, streams cut after their usage among them, and estimates were marked.
        #expect((stats.faultsByKind["cut"] ?? 0) > 0)
        #expect((stats.faultsByKind["drop"] ?? 0) + (stats.faultsByKind["malformed"] ?? 0) > 0)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE usage_estimated = 1") > 0)
        // Every attempt has its charge; per-model totals and job costs agree with the attempts.
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE prompt_tokens IS NULL") == 0)
        let perModel = try db.queryOne("SELECT sum(cost_usd) FROM batch_costs") { $0.double(0) ?? 0 } ?? 0
        let perJob = try db.queryOne("SELECT sum(cost_usd) FROM jobs") { $0.double(0) ?? 0 } ?? 0
        #expect(abs(perModel - recorded) < 1e-9 && abs(perJob - recorded) < 1e-9)
    }
    }

    /// A batch's stored budget is the batch's, not each runner's: two runners started on it at
    /// once (cron, twice) spend at most the cap between them. Each used to read what the batch had
    /// spent when it started and then reserve against the whole rest on its own.
    @Test func twoRunnersOnOneBatchSpendAtMostItsStoredBudgetTogether() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(2))) { server in
            let fixture = try Fixture(count: 120, maxTokens: 20)
            let cap = 0.5
            let db = try Database(path: fixture.databasePath)
            try db.run("UPDATE batches SET budget_usd = ? WHERE id = ?", [.init(cap), .init(fixture.batchID)])
            async let first = fixture.run(server) { $0.concurrency = 8; $0.prices = Self.prices }
            async let second = fixture.run(server) { $0.concurrency = 8; $0.prices = Self.prices }
            let summaries = try await [first, second]
            #expect(summaries.allSatisfy { $0.ending == .budget }, "\(summaries.map(\.ending))")
            let recorded = try db.queryOne("SELECT coalesce(sum(cost_usd), 0) FROM attempts") { $0.double(0) ?? 0 } ?? 0
            #expect(recorded <= cap + 1e-9, "the two runners spent $\(recorded) under a $\(cap) budget")
            #expect(recorded > cap / 2, "the runners spent too little to tell: $\(recorded)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") > 0)
        }
    }

    @Test func aModelWithoutAPriceIsRefusedBeforeAnythingIsSpent() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 3, models: ["gpt-4o-mini", "my-local-model"], maxTokens: 20)
        await #expect {
            _ = try await fixture.run(server) { $0.budget = 5 }
        } throws: { "\($0)".contains("budget: model my-local-model has no price (1 jobs)") && "\($0)".contains("nothing was spent") }
        #expect(server.stats().requests == 0)
        // Without max_tokens an OpenAI job has no worst case either.
        let unbounded = try Fixture(count: 2)
        await #expect {
            _ = try await unbounded.run(server) { $0.budget = 5 }
        } throws: { "\($0)".contains("2 jobs of model gpt-4o-mini set no max_tokens") }
        #expect(server.stats().requests == 0)
    }
    }

    /// The CLI: the cap stored with `submit --budget` holds for later runs, the run exits 3 with
    /// the documented line, and `status --json` shows the cost per model.
    @Test func submitBudgetIsStoredAndTheRunEndsWithTheBudgetLine() async throws {
        try await withMockServer { server in
            let scratch = TemporaryDirectory("choreo-budget")
            let dir = scratch.url
        let lines = (0..<30).map { i in
            #"{"custom_id":"j\#(i)","model":"mock-model","messages":[{"role":"user","content":"Question \#(i) about moons"}],"max_tokens":20}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("jobs.jsonl"), atomically: true, encoding: .utf8)
        try #"{"prices": {"mock-*": {"input": 100, "output": 1000}}}"#.write(to: dir.appendingPathComponent("choreo.json"), atomically: true, encoding: .utf8)
        let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY_FOR_TEST": "", "CHOREO_DB": dir.appendingPathComponent("db.sqlite").path]
        func choreo(_ args: [String]) async throws -> (Int32, String) {
            let r = try await ChoreoBinary.run(args, environment: env.merging(["OPENAI_API_KEY": "sk-test"]) { $1 })
            return (r.status, r.output)
        }
        let (submitted, _) = try await choreo(["submit", dir.appendingPathComponent("jobs.jsonl").path, "--budget", "0.2", "--config", dir.appendingPathComponent("choreo.json").path])
        try #require(submitted == 0)
        let (estimated, estimate) = try await choreo(["estimate", dir.appendingPathComponent("jobs.jsonl").path, "--config",
                                                      dir.appendingPathComponent("choreo.json").path])
        #expect(estimated == 0, "\(estimate)")
        #expect(estimate.contains("mock-model") && estimate.contains("total") && !estimate.contains("unknown"), "\(estimate)")
        let (code, output) = try await choreo(["run", "--config", dir.appendingPathComponent("choreo.json").path, "--concurrency", "4"])
        #expect(code == 3, "\(output)")
        let line = output.split(separator: "\n").first { $0.hasPrefix("budget reached: $") }
        #expect(line != nil, "\(output)")
        #expect(line?.contains(" of $0.2000 spent; ") == true && line?.hasSuffix(" jobs left") == true, "\(output)")
        let (statusCode, status) = try await choreo(["status", "--json"])
        #expect(statusCode == 0)
        let json = try JSONValue.parse(Array(status.utf8))
        let batch = json.arrayValue?.first ?? json
        #expect(batch["cost"]?["budget_usd"]?.doubleValue == 0.2, "\(status)")
        let spent = batch["cost"]?["cost_usd"]?.doubleValue ?? 99
        #expect(spent > 0 && spent <= 0.2)
        #expect(batch["cost"]?["models"]?["mock-model"]?["cost_usd"]?.doubleValue == spent)
    }
    }
}
