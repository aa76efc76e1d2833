import ChoreoMock
import ChoreoTesting
import Foundation
import Synchronization
import Testing
@testable import ChoreoAI
@testable import ChoreoBatch

@Suite("Provider gates: limits, pauses and pacing from headers")
struct ProviderGateTests {
    func elapsed(_ body: () async throws -> Void) async rethrows -> Double {
        let t = Date()
        try await body()
        return Date().timeIntervalSince(t)
    }

    @Test func a429PausesEveryRequestOfTheProvider() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: nil)
        gate.pause(for: 0.4)
        let waited = try await elapsed { try await gate.admit(estimatedTokens: 10) }
        #expect(waited >= 0.35)
    }

    @Test func exhaustedHeaderBudgetWaitsForItsReset() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: nil)
        gate.observe(RateLimitInfo(headers: HeaderFields([
            ("x-ratelimit-limit-requests", "100"), ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "400ms"),
        ])), estimatedTokens: 10)
        #expect(try await elapsed { try await gate.admit(estimatedTokens: 10) } >= 0.35)
    }

    @Test func lowRemainingBudgetSpreadsRequestsOverTheReset() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: nil)
        // 4 requests left of 100, reset in 0.8 s: one every 0.2 s rather than a burst into a 429.
        gate.observe(RateLimitInfo(headers: HeaderFields([
            ("x-ratelimit-limit-requests", "100"), ("x-ratelimit-remaining-requests", "4"), ("x-ratelimit-reset-requests", "800ms"),
        ])), estimatedTokens: 10)
        let waited = try await elapsed { for _ in 0..<3 { try await gate.admit(estimatedTokens: 10) } }
        #expect(waited >= 0.35)
    }

    @Test func tokensPerMinuteBudget() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: 600)  // 10 tokens/s
        // The bucket starts full and holds a minute's 600 tokens; the next 5 after them wait for
        // the refill: half a second after the first take, however long the machine took to get
        // there. (That the last 5 of the 600 go at once is `ProviderBudget`'s, tested with its
        // own clock in ProviderBudgetTests: an upper bound on wall time here failed on a loaded
        // machine.)
        let all = try await elapsed {
            try await gate.admit(estimatedTokens: 595)
            try await gate.admit(estimatedTokens: 5)
            try await gate.admit(estimatedTokens: 5)
        }
        #expect(all >= 0.45)
    }

    /// The admission that does not wait (a claim's jobs, `JobExecution.admitNow`) goes only when
    /// `admit` would not have waited, and takes nothing when it does not go.
    @Test func admitNowGoesOnlyWhenNothingIsToBeWaitedForAndTakesNothingOtherwise() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: 1, requestsPerMinute: nil, tokensPerMinute: nil)
        // No permits in hand yet: they are taken from the budgets first, which `admit` waits for.
        #expect(!gate.admitNow(estimatedTokens: 1))
        try await gate.admit(estimatedTokens: 1)
        // The one concurrency permit is held.
        #expect(!gate.admitNow(estimatedTokens: 1))
        gate.finished()
        // Permits in hand (good for a second) and the concurrency permit free: it goes, and holds it.
        #expect(gate.admitNow(estimatedTokens: 1))
        #expect(!gate.admitNow(estimatedTokens: 1))
        gate.finished()
        // The refusals took no concurrency permit.
        #expect(gate.admitNow(estimatedTokens: 1))
        gate.finished()
        // A 429's pause holds it as it holds `admit`.
        gate.pause(for: 30)
        #expect(!gate.admitNow(estimatedTokens: 1))
    }

    /// The tokens a request is estimated at before its usage is known (what the gate reserves of a
    /// tokens-per-minute budget): its prompt's JSON length over 4, plus its completion budget.
    @Test func aRequestsTokenEstimateIsItsPromptsJSONLengthOver4PlusItsCompletionBudget() throws {
        let text = String(repeating: "abcd", count: 100)
        func estimate(_ json: String) throws -> Int { JobExecution.estimateTokens(try JSONValue.parse(json)) }
        // A string content counts with its quotes, as printed.
        #expect(try estimate(#"{"messages":[{"role":"user","content":"\#(text)"}],"max_tokens":50}"#) == (402 / 4) + 50)
        #expect(try estimate(#"{"messages":[{"role":"system","content":"\#(text)"},{"role":"user","content":"hi"}]}"#)
                == (402 + 4) / 4 + 256)
        // Parts count as their JSON.
        let parts = #"[{"type":"text","text":"\#(text)"}]"#
        #expect(try estimate(#"{"messages":[{"role":"user","content":\#(parts)}],"max_completion_tokens":10}"#)
                == parts.utf8.count / 4 + 10)
        // A Responses body: its input and instructions.
        #expect(try estimate(#"{"input":"\#(text)","instructions":"be brief","max_output_tokens":7}"#) == (402 + 10) / 4 + 7)
    }

    @Test func tryAcquireTakesAFreePermitButNeverOneAWaiterIsOwed() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        #expect(semaphore.tryAcquire())
        #expect(!semaphore.tryAcquire())
        let waiter = Task { try await semaphore.acquire() }
        try await eventually("a task waits for the permit") { semaphore.waiting == 1 }
        semaphore.release()  // goes to the waiter
        try await waiter.value
        #expect(!semaphore.tryAcquire())
        semaphore.release()
        #expect(semaphore.tryAcquire())
    }

    @Test func concurrencyCapHoldsPermits() async throws {
        let gate = ProviderGate(name: "p", maxConcurrency: 2, requestsPerMinute: nil, tokensPerMinute: nil)
        try await gate.admit(estimatedTokens: 1)
        try await gate.admit(estimatedTokens: 1)
        let admitted = Atomic<Bool>(false)
        let third = Task {
            try await gate.admit(estimatedTokens: 1)
            admitted.store(true, ordering: .sequentiallyConsistent)
        }
        // The third request queues behind the two permits and stays there until one comes back.
        try await eventually("a request waits for a permit") { gate.waitingForPermit == 1 }
        let admittedEarly = admitted.load(ordering: .sequentiallyConsistent)
        #expect(!admittedEarly)
        gate.finished()
        _ = try await third.value
        let admittedAfterRelease = admitted.load(ordering: .sequentiallyConsistent)
        #expect(admittedAfterRelease)
        #expect(gate.waitingForPermit == 0)
        // A waiter that is cancelled leaves the queue with CancellationError.
        let fourth = Task { try await gate.admit(estimatedTokens: 1) }
        try await eventually("a request waits for a permit") { gate.waitingForPermit == 1 }
        fourth.cancel()
        await #expect(throws: CancellationError.self) { try await fourth.value }
        #expect(gate.waitingForPermit == 0)
    }
}

@Suite("Per-model caps")
struct ModelCapTests {
    /// A claim's jobs start together; one that must wait at its model's cap waits alone: the jobs
    /// claimed with it, behind it in the claim, go on (issue 20's batched starts).
    @Test func aJobWaitingAtItsModelsCapHoldsBackNoOtherJobOfItsClaim() async throws {
        try await withScriptedServer(answering: { request in
            // The capped model's first request never gets its head: its job holds the cap.
            request.bodyText.contains("gpt-4o-mini") ? [.pause(seconds: 600)]
                : [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("fine"))]
        }) { server in
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices where router.providers[i].kind == .openAI {
            router.providers[i].modelConcurrency = ["gpt-4o*": 1]
        }
        let fixture = try Fixture(count: 8, models: ["gpt-4o-mini", "gpt-4o-mini"] + Array(repeating: "gpt-3.5-turbo", count: 6))
        let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.stallTimeout = 600 }, router: router)
        let run = Task { try await runner.run() }
        try await eventually("the other model's six jobs succeed") {
            try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'fine'") == 6
        }
        #expect(server.requests.filter { $0.bodyText.contains("gpt-4o-mini") }.count == 1, "the cap let a second request through")
        run.cancel()
        _ = try await run.value
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 2)
        }
    }

    @Test func aModelCapLimitsStreamsOfThatModelOnly() async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(20)))
        defer { Task { try? await server.shutdown() } }
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices where router.providers[i].kind == .openAI {
            router.providers[i].modelConcurrency = ["gpt-4o*": 2]
        }
        let fixture = try Fixture(count: 40, models: ["gpt-4o-mini", "gpt-3.5-turbo"])
        let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.concurrency = 20 }, router: router).run()
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        // At most 2 gpt-4o-mini attempts ever overlapped in time.
        #expect(try fixture.scalar("""
            SELECT max(n) FROM (SELECT (SELECT count(*) FROM attempts b JOIN jobs jb ON jb.id = b.job_id
                                        WHERE jb.model = 'gpt-4o-mini' AND b.started_at <= a.started_at AND b.ended_at > a.started_at) AS n
                                FROM attempts a JOIN jobs ja ON ja.id = a.job_id WHERE ja.model = 'gpt-4o-mini')
            """) <= 2)
        // The other model was not held back to 2.
        #expect(try fixture.scalar("""
            SELECT max(n) FROM (SELECT (SELECT count(*) FROM attempts b JOIN jobs jb ON jb.id = b.job_id
                                        WHERE jb.model = 'gpt-3.5-turbo' AND b.started_at <= a.started_at AND b.ended_at > a.started_at) AS n
                                FROM attempts a JOIN jobs ja ON ja.id = a.job_id WHERE ja.model = 'gpt-3.5-turbo')
            """) > 2)
    }
}
