import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import StreamingExamples
import Testing

/// A mock provider on 127.0.0.1 for one test, and what it is expected to answer.
struct Mock {
    let server: MockServer
    let client: ChoreoClient

    /// Starts a server, runs `body` with a client pointed at it (sending `fault` as
    /// `x-mock-fault`), and stops the server however `body` ends.
    static func run<T>(_ config: MockConfig = MockConfig(), fault: String? = nil,
                       _ body: (Mock) async throws -> T) async throws -> T {
        try await withMockServer(config: config) { server in
            try await body(Mock(server: server, client: server.client(fault: fault, stallTimeout: 5)))
        }
    }

    /// Waits until the server's stats satisfy `condition` (the server sees a client's close a
    /// moment after the client closes); returns the stats that did.
    func stats(until condition: (MockStats) -> Bool) async throws -> MockStats {
        try await eventually("the mock's stats to reach the expected state: \(server.stats())") { condition(server.stats()) }
        return server.stats()
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
