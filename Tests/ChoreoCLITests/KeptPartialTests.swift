import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// Issue 12 part 2: text that was received stays until the job succeeds.
@Suite("Kept partial output survives attempts that receive nothing")
struct KeptPartialTests {
    /// Attempt 1 is cut after some text; attempt 2 (a fresh start: no prefill support) fails
    /// before a byte (connection refused). Attempt 2 used to write `partial_output = NULL`, so a
    /// later `resume --continue-partial` paid for the whole answer again. Now the kept text stays,
    /// the continuation's prefill is attempt 1's text, and the final text is exact.
    @Test func anEmptyAttemptDoesNotEraseTheKeptPartial() async throws {
        let cutting = try await MockServer.start(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 8))
        let fixture = try Fixture(lines: [["custom_id": "kept", "model": "gpt-4o-mini",
                                           "messages": [["role": "user", "content": "Describe the lighthouse"]], "max_tokens": 200]])
        let first = try await fixture.run(cutting) { $0.retry.maxAttempts = 1 }
        try? await cutting.shutdown()
        #expect(first.failed == 1)
        let cut = try fixture.scalar("SELECT partial_output FROM partials", text: true)
        #expect(!cut.isEmpty && fixture.expectedText("kept").hasPrefix(cut))
        let cutTokens = try fixture.scalar("SELECT partial_tokens FROM partials")

        // Attempt 2: nothing listens on port 1, so it fails before a byte.
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "test")
        #expect(try await queue.resume(batch: fixture.batchID, all: false, retryableKinds: FailureKind.retryable) == 1)
        let refused = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.retry.maxAttempts = 1 },
                                            router: ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:1")).run()
        #expect(refused.failed == 1)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE number = 2 AND chars_received = 0") == 1)
        #expect(try fixture.scalar("SELECT partial_output FROM partials", text: true) == cut)
        #expect(try fixture.scalar("SELECT partial_tokens FROM partials") == cutTokens)

        // resume --continue-partial: the continuation starts from attempt 1's text.
        try await withMockServer { server in
            #expect(try await queue.resume(batch: fixture.batchID, all: false, retryableKinds: FailureKind.retryable) == 1)
            let last = try await fixture.run(server) { $0.continuePartial = true }
            #expect(last.exitCode == 0)
            try fixture.expectAllExact()
            #expect(try fixture.scalar("SELECT continued_from_chars FROM attempts WHERE number = 3") == cut.unicodeScalars.count)
            #expect(try fixture.scalar("SELECT partial_output IS NULL FROM partials") == 1)
        }
    }
}
