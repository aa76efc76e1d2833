import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import StreamingExamples
import Testing

/// A mock provider on 127.0.0.1 for one test, and what it is expected to answer.
struct Mock {
    let server: MockServer
    let client: ChoreoAI

    /// Starts a server, runs `body` with a client pointed at it (sending `fault` as
    /// `x-mock-fault`), and stops the server however `body` ends.
    static func run<T>(_ config: MockConfig = MockConfig(), fault: String? = nil,
                       _ body: (Mock) async throws -> T) async throws -> T {
        let server = try await MockServer.start(config: config)
        let mock = Mock(server: server, client: server.client(fault: fault, stallTimeout: 5))
        do {
            let result = try await body(mock)
            try await server.shutdown()
            return result
        } catch {
            try? await server.shutdown()
            throw error
        }
    }

    /// Waits until the server's stats satisfy `condition` (the server sees a client's close a
    /// moment after the client closes); returns the last stats seen.
    func stats(within seconds: Double = 20, until condition: (MockStats) -> Bool) async throws -> MockStats {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var stats = server.stats()
        while !condition(stats) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            stats = server.stats()
        }
        return stats
    }
}

/// The mock's deterministic answer to `messages` (complete, or cut at `maxTokens`).
func expectedReply(_ messages: [ChatMessage], model: String = "gpt-4", maxTokens: Int? = nil) -> (text: String, finishReason: String) {
    MockContent.reply(model: model, messages: messages.map(\.json), maxTokens: maxTokens)
}

/// The mock's answer to one user message.
func expectedReply(_ prompt: String, model: String = "gpt-4", maxTokens: Int? = nil) -> (text: String, finishReason: String) {
    expectedReply([.user(prompt)], model: model, maxTokens: maxTokens)
}

/// The tokens the mock streams for one user message, one content chunk each.
func expectedTokens(_ prompt: String, model: String = "gpt-4") -> [String] {
    MockContent.tokens(model: model, messages: [ChatMessage.user(prompt).json])
}
