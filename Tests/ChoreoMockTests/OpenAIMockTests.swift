import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("Mock OpenAI endpoint")
struct OpenAIMockTests {
    @Test func streamTextEqualsTheDeterministicReply() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["stream_options": ["include_usage": true]]))
            #expect(r.status == 200)
            #expect(r.error == nil)
            #expect(r.header("content-type") == "text/event-stream")
            #expect(r.header("x-request-id") != nil && r.header("x-ratelimit-remaining-requests") != nil)
            let expected = MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: nil)
            #expect(r.openAIText == expected.text)

            let chunks = r.eventJSON
            let tokens = MockContent.tokens(model: Sample.model, messages: Sample.messages)
            // role chunk + one per token + finish chunk + usage chunk (+ [DONE], not JSON)
            #expect(chunks.count == tokens.count + 3)
            #expect(chunks[0]["choices"]?.at(0)?["delta"] == ["role": "assistant", "content": "", "refusal": nil])
            #expect(chunks[tokens.count + 1]["choices"]?.at(0)?["finish_reason"] == "stop")
            #expect(chunks[tokens.count + 1]["choices"]?.at(0)?["delta"] == [:])
            #expect(chunks.last?["choices"] == [])
            #expect(chunks.last?["usage"]?["completion_tokens"]?.intValue == tokens.count)
            #expect(chunks.last?["usage"]?["prompt_tokens"]?.intValue == 8)
            #expect(r.events.last?.text == "[DONE]")
            #expect(Set(chunks.compactMap { $0["id"]?.stringValue }).count == 1)
        }
    }

    @Test func maxTokensCutsTheStreamWithFinishReasonLength() async throws {
        try await withMockServer { server in
            for key in ["max_tokens", "max_completion_tokens"] {
                let r = try await post(server, "/v1/chat/completions", Sample.openAI(extra: [key: 4]))
                let expected = MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: 4)
                #expect(r.openAIText == expected.text)
                #expect(expected.finishReason == "length")
                #expect(r.eventJSON.last?["choices"]?.at(0)?["finish_reason"] == "length")
                #expect(r.eventJSON.allSatisfy { $0["usage"] == nil }, "no usage chunk unless asked")
            }
        }
    }

    @Test func nonStreamedCompletionObject() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(stream: false, extra: ["max_tokens": 7]))
            let json = try #require(r.json)
            #expect(json["object"] == "chat.completion")
            #expect(json["choices"]?.at(0)?["message"]?["content"]?.stringValue
                == MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: 7).text)
            #expect(json["choices"]?.at(0)?["finish_reason"] == "length")
            #expect(json["usage"]?["completion_tokens"] == 7)
        }
    }

    @Test func toolCallStreamsInFragmentsAndFinishesWithToolCalls() async throws {
        try await withMockServer { server in
            let tools: JSONValue = [["type": "function", "function": ["name": "search", "parameters": ["type": "object"]]]]
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["tools": tools]))
            let deltas = r.eventJSON.compactMap { $0["choices"]?.at(0)?["delta"]?["tool_calls"]?.at(0) }
            #expect(deltas.first?["id"]?.stringValue?.hasPrefix("call_") == true)
            #expect(deltas.first?["function"]?["name"] == "search")
            let fragments = deltas.dropFirst().compactMap { $0["function"]?["arguments"]?.stringValue }
            #expect((3...4).contains(fragments.count))
            let arguments = try JSONValue.parse(fragments.joined())
            let words = MockContent.tokens(model: Sample.model, messages: Sample.messages)
                .map { $0.filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
            #expect(arguments == ["query": .string(words.prefix(2).joined(separator: " "))])
            #expect(r.eventJSON.last?["choices"]?.at(0)?["finish_reason"] == "tool_calls")

            let none = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["tools": tools, "tool_choice": "none"]))
            #expect(none.openAIText == MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: nil).text)
        }
    }

    @Test func modelsAndUnknownRoutes() async throws {
        try await withMockServer { server in
            let models = try await get(server, "/v1/models")
            #expect(models.status == 200)
            #expect(models.json?["object"] == "list")
            let missing = try await get(server, "/v1/nothing")
            #expect(missing.status == 404)
            let bad = try await post(server, "/v1/chat/completions", ["model": "m"])
            #expect(bad.status == 400)
            #expect(bad.json?["error"]?["type"] == "invalid_request_error")
        }
    }

    @Test func keepAliveServesManyRequestsAndConcurrentStreams() async throws {
        // A small version of the 10,000-stream soak (scripts/bench): slow streams all open at once.
        // 300, not more: the suite runs in parallel on 2 cores in a debug build.
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(20))) { server in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<300 {
                    group.addTask {
                        let r = try await post(server, "/v1/chat/completions", Sample.openAI(Sample.messages(n)))
                        return r.openAIText == MockContent.reply(model: Sample.model, messages: Sample.messages(n), maxTokens: nil).text
                    }
                }
                var ok = 0
                for try await good in group where good { ok += 1 }
                #expect(ok == 300)
            }
            let stats = server.stats()
            #expect(stats.completed == 300)
            #expect(stats.streamsActive == 0)
            // Many streams were open at once (how many depends on the machine's load).
            #expect(stats.streamsPeak > 50)
        }
    }
}
