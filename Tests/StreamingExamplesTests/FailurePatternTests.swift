import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import StreamingExamples
import Testing

/// The guide's error patterns, with the mock provider injecting the failures.
@Suite("Streaming guide: errors, retries, partial answers")
struct FailurePatternTests {
    /// Quick backoff, so the test does not wait seconds between attempts.
    static let quickPolicy = RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 0.05)

    @Test func errorHandlingCompletesWhenNothingFails() async throws {
        let output = ExampleOutput.capture()
        let error = try await Mock.run { await ErrorHandling.run(client: $0.client, output: output) }
        #expect(error == nil)
        #expect(output.text == expectedReply("Hello").text + "\n")
    }

    @Test func errorHandlingReportsAnHTTPErrorAsAPIError() async throws {
        let output = ExampleOutput.capture()
        let error = try await Mock.run(fault: "429") { await ErrorHandling.run(client: $0.client, output: output) }
        let apiError = try #require(error as? APIError)
        #expect(apiError.status == 429)
        #expect(apiError.retryAfter != nil)
        #expect(output.text.hasPrefix("\nAPI error (HTTP 429): Rate limit reached"))
    }

    @Test func errorHandlingReportsABrokenStreamAsStreamError() async throws {
        let output = ExampleOutput.capture()
        let error = try await Mock.run(fault: "drop:4") { await ErrorHandling.run(client: $0.client, output: output) }
        let streamError = try #require(error as? StreamError)
        let prefix = expectedTokens("Hello").prefix(4).joined()
        #expect(streamError.kind == .interrupted)
        #expect(streamError.partialText == prefix)
        #expect(output.text.hasPrefix(prefix + "\nStreaming error: "))
    }

    @Test(arguments: [MockFault.Kind.serverError, .drop, .rateLimit, .malformed])
    func retrySucceedsAfterTwoTransientFailures(kind: MockFault.Kind) async throws {
        let config = MockConfig(faultRate: 1, faultKinds: [kind], maxFaultsPerRequest: 2, retryAfterMs: 10)
        let output = ExampleOutput.capture()
        let (result, stats) = try await Mock.run(config) { mock in
            (try await RetryOnStreamFailure.run(client: mock.client, output: output, policy: Self.quickPolicy), mock.server.stats())
        }
        #expect(result.text == expectedReply("Hello").text)
        #expect(result.attempts == 3)
        #expect(stats.requests == 3)
        #expect(stats.faultsByKind[kind.rawValue] == 2)
        #expect(output.text.contains("Attempt 1 failed"))
        #expect(output.text.contains("Attempt 2 failed"))
        #expect(output.text.hasSuffix(result.text + "\n"))
    }

    /// A 500 on every attempt uses up the attempts; an exhausted quota is not worth a second one.
    @Test(arguments: [("500", 3, "Attempt 3 failed (server_error): "), ("quota", 1, "Attempt 1 failed (quota): ")])
    func retryStopsWhenItCannotSucceed(fault: String, requests: Int, lastReport: String) async throws {
        let output = ExampleOutput.capture()
        let sent = try await Mock.run(fault: fault) { mock in
            await #expect(throws: APIError.self) {
                try await RetryOnStreamFailure.run(client: mock.client, output: output, policy: Self.quickPolicy)
            }
            return mock.server.stats().requests
        }
        #expect(sent == requests)
        #expect(output.text.contains(lastReport))
    }

    @Test(arguments: [0, 1, 3, 10])
    func partialRecoveryKeepsExactlyTheTextBeforeTheDrop(afterChunks: Int) async throws {
        let output = ExampleOutput.capture()
        let partial = try await Mock.run(fault: "drop:\(afterChunks)") { try await PartialResponseRecovery.run(client: $0.client, output: output) }
        let prefix = expectedTokens("Write a long story").prefix(afterChunks).joined()
        #expect(partial == prefix)
        #expect(output.text.hasPrefix(prefix + "\n[Stream interrupted: "))
        #expect(output.text.hasSuffix("\nPartial response (\(prefix.count) chars):\n\(prefix)\n"))
    }

    @Test func partialRecoveryAfterAStallKeepsTheTextBeforeIt() async throws {
        let output = ExampleOutput.capture()
        let partial = try await Mock.run { mock in
            let client = mock.server.client(fault: "stall:2", stallTimeout: 2)
            return try await PartialResponseRecovery.run(client: client, output: output)
        }
        #expect(partial == expectedTokens("Write a long story").prefix(2).joined())
    }

    @Test func partialRecoveryReturnsTheWholeTextWhenNothingBreaks() async throws {
        let output = ExampleOutput.capture()
        let text = try await Mock.run { try await PartialResponseRecovery.run(client: $0.client, output: output) }
        #expect(text == expectedReply("Write a long story").text)
        #expect(output.text == text + "\n")
    }
}
