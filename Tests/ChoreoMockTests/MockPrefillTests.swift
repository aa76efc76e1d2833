import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("Mock prefill (continuation)")
struct MockPrefillTests {
    static let tokens = MockContent.tokens(model: Sample.model, messages: Sample.messages)

    /// The first `k` tokens, as a client that received them would send them back (trailing whitespace trimmed).
    static func partial(_ k: Int) -> String {
        var s = tokens.prefix(k).joined()
        while s.last?.isWhitespace == true { s.removeLast() }
        return s
    }

    @Test func anthropicPrefillStreamsExactlyTheRemainder() async throws {
        try await withMockServer { server in
            for k in [1, 4, 9] {
                let prefill = Self.partial(k)
                let body = Sample.anthropic([
                    ["role": "user", "content": "Name two moons of Mars."],
                    ["role": "assistant", "content": .string(prefill)],
                ])
                let r = try await post(server, "/v1/messages", body)
                #expect(r.status == 200)
                #expect(prefill + r.anthropicText == Self.tokens.joined())
            }
        }
    }

    @Test func prefillInsideATokenContinuesMidToken() async throws {
        try await withMockServer { server in
            let full = Self.tokens.joined()
            let i = try #require(Self.tokens.indices.first { $0 >= 3 && Self.tokens[$0].hasPrefix(" ") && Self.tokens[$0].count > 2 })
            let cut = Self.tokens.prefix(i).joined() + String(Self.tokens[i].prefix(2))  // " w" of a word token
            #expect(full.hasPrefix(cut))
            let body = Sample.anthropic([["role": "user", "content": "Name two moons of Mars."], ["role": "assistant", "content": .string(cut)]])
            let r = try await post(server, "/v1/messages", body)
            #expect(cut + r.anthropicText == full)
        }
    }

    @Test func remainingBudgetGivesTheUninterruptedText() async throws {
        try await withMockServer { server in
            let maxTokens = 10
            // Whatever the 6 tokens end with, the prefill covers the tokens up to the last one
            // that is not only whitespace; the continuation writes the rest again.
            let k = 6
            let covered = Self.tokens.prefix(k).lastIndex { !$0.allSatisfy(\.isWhitespace) }.map { $0 + 1 } ?? 0
            let body = Sample.anthropic([
                ["role": "user", "content": "Name two moons of Mars."],
                ["role": "assistant", "content": .string(Self.partial(k))],
            ], maxTokens: maxTokens - covered)
            let r = try await post(server, "/v1/messages", body)
            let uninterrupted = MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: maxTokens)
            #expect(Self.partial(k) + r.anthropicText == uninterrupted.text)
            #expect(r.eventJSON.first { $0["type"] == "message_delta" }?["delta"]?["stop_reason"] == "max_tokens")
        }
    }

    @Test func wrongPrefillOrTrailingWhitespaceIsRejected() async throws {
        try await withMockServer { server in
            let wrong = Sample.anthropic([["role": "user", "content": "Name two moons of Mars."], ["role": "assistant", "content": "Certainly not"]])
            let r = try await post(server, "/v1/messages", wrong)
            #expect(r.status == 400)
            #expect(r.json?["error"]?["type"] == "invalid_request_error")
            #expect(r.json?["error"]?["message"]?.stringValue?.contains("prefill does not match") == true)

            let spaced = Sample.anthropic([["role": "user", "content": "Name two moons of Mars."], ["role": "assistant", "content": .string(Self.partial(3) + " ")]])
            let s = try await post(server, "/v1/messages", spaced)
            #expect(s.status == 400)
            #expect(s.json?["error"]?["message"]?.stringValue?.contains("trailing whitespace") == true)
        }
    }

    @Test func openAIContinuesOnlyWithContinueFinalMessage() async throws {
        try await withMockServer { server in
            let prefill = Self.partial(5)
            let messages = Sample.messages + [["role": "assistant", "content": .string(prefill)]]
            let r = try await post(server, "/v1/chat/completions",
                                   Sample.openAI(messages, extra: ["continue_final_message": true, "add_generation_prompt": false]))
            #expect(prefill + r.openAIText == Self.tokens.joined())
            #expect(r.header("x-mock-attempt") == "1", "a continuation is an attempt of the same request")

            let wrong = Sample.messages + [["role": "assistant", "content": "Nope"]]
            let bad = try await post(server, "/v1/chat/completions", Sample.openAI(wrong, extra: ["continue_final_message": true]))
            #expect(bad.status == 400)

            // Without the flag a trailing assistant message is conversation: no 400, a different reply.
            let plain = try await post(server, "/v1/chat/completions", Sample.openAI(wrong))
            #expect(plain.status == 200)
            #expect(plain.openAIText == MockContent.reply(model: Sample.model, messages: wrong, maxTokens: nil).text)
        }
    }

    @Test func geminiHasNoPrefill() async throws {
        try await withMockServer { server in
            var body = Sample.gemini()
            body["contents"] = [["role": "user", "parts": [["text": "Hi"]]], ["role": "model", "parts": [["text": "Nope"]]]]
            let r = try await post(server, Sample.geminiPath, body)
            #expect(r.status == 200)
            let messages: [JSONValue] = [["role": "system", "content": "You are terse."], ["role": "user", "content": "Hi"], ["role": "assistant", "content": "Nope"]]
            #expect(r.geminiText == MockContent.reply(model: Sample.model, messages: messages, maxTokens: nil).text)
        }
    }
}
