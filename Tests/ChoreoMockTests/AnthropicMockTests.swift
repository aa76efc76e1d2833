import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("Mock Anthropic endpoint")
struct AnthropicMockTests {
    static let openAIShaped: [JSONValue] = Sample.messages

    @Test func streamEventsAndText() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/messages", Sample.anthropic())
            #expect(r.status == 200)
            #expect(r.error == nil)
            let expected = MockContent.reply(model: Sample.model, messages: Self.openAIShaped, maxTokens: nil)
            #expect(r.anthropicText == expected.text)
            let types = r.events.map(\.type)
            let tokens = MockContent.tokens(model: Sample.model, messages: Self.openAIShaped)
            #expect(types == ["message_start", "content_block_start", "ping"]
                + Array(repeating: "content_block_delta", count: tokens.count)
                + ["content_block_stop", "message_delta", "message_stop"])
            #expect(zip(r.events, r.eventJSON).allSatisfy { $0.type == $1["type"]?.stringValue })
            let delta = r.eventJSON[r.eventJSON.count - 2]
            #expect(delta["delta"]?["stop_reason"] == "end_turn")
            #expect(delta["usage"]?["output_tokens"]?.intValue == tokens.count)
            // The system prompt's 3 words are "read from the cache": Anthropic's counts are disjoint.
            #expect(r.eventJSON[0]["message"]?["usage"]?["input_tokens"] == 5)
            #expect(r.eventJSON[0]["message"]?["usage"]?["cache_read_input_tokens"] == 3)
        }
    }

    @Test func maxTokensIsRequiredAndCuts() async throws {
        try await withMockServer { server in
            var body = Sample.anthropic()
            body["max_tokens"] = nil
            let missing = try await post(server, "/v1/messages", body)
            #expect(missing.status == 400)
            #expect(missing.json?["type"] == "error")
            #expect(missing.json?["error"]?["type"] == "invalid_request_error")

            let cut = try await post(server, "/v1/messages", Sample.anthropic(maxTokens: 3))
            #expect(cut.anthropicText == MockContent.reply(model: Sample.model, messages: Self.openAIShaped, maxTokens: 3).text)
            #expect(cut.eventJSON.first { $0["type"] == "message_delta" }?["delta"]?["stop_reason"] == "max_tokens")
        }
    }

    @Test func nonStreamedMessage() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/messages", Sample.anthropic(stream: false))
            #expect(r.json?["type"] == "message")
            #expect(r.json?["content"]?.at(0)?["text"]?.stringValue == MockContent.reply(model: Sample.model, messages: Self.openAIShaped, maxTokens: nil).text)
            #expect(r.json?["stop_reason"] == "end_turn")
        }
    }

    @Test func toolUseStreamsInputJSONDeltas() async throws {
        try await withMockServer { server in
            var body = Sample.anthropic()
            body["tools"] = [["name": "lookup", "input_schema": ["type": "object"]]]
            let r = try await post(server, "/v1/messages", body)
            #expect(r.eventJSON[1]["content_block"]?["type"] == "tool_use")
            #expect(r.eventJSON[1]["content_block"]?["name"] == "lookup")
            let partials = r.eventJSON.compactMap { $0["delta"]?["partial_json"]?.stringValue }
            #expect(partials.first == "")
            #expect((3...4).contains(partials.count - 1))
            let input = try JSONValue.parse(partials.joined())
            #expect(input["query"]?.stringValue?.isEmpty == false)
            #expect(r.eventJSON.first { $0["type"] == "message_delta" }?["delta"]?["stop_reason"] == "tool_use")
        }
    }
}
