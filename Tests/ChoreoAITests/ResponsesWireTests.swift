import ChoreoMock
import ChoreoTesting
import Testing
@testable import ChoreoAI

/// The Responses API stream (wire-formats-2 §1), decoded into the chunks of every other stream.
@Suite struct ResponsesWireTests {
    /// §1.4's captured gpt-5 stream (a reasoning item, then a function call), with a text part
    /// added before the call as §1.4's text delta shows one; it ends without `[DONE]`.
    static let recordedStream = Array((#"""
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_68d9","object":"response","created_at":1759064126,"status":"in_progress","error":null,"incomplete_details":null,"model":"gpt-5-2025-08-07","output":[],"usage":null}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":3,"output_index":0,"item":{"id":"rs_68d9","type":"reasoning","encrypted_content":"gAAAAABo2TA_9aBc…","summary":[]}}

        event: response.reasoning_summary_text.delta
        data: {"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_0391","output_index":0,"summary_index":0,"delta":"**Craft","obfuscation":"pvmKQ7xIR"}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_68d9","output_index":1,"content_index":0,"delta":"Current ","logprobs":[],"obfuscation":"8LmeBsRtk"}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_68d9","output_index":1,"content_index":0,"delta":"weather: ☀️","logprobs":[]}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":7,"output_index":2,"item":{"id":"fc_68d9","type":"function_call","status":"in_progress","arguments":"","call_id":"call_5dp5Uj0Loqn1YcyIpqSq6sLX","name":"get_weather"}}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":8,"item_id":"fc_68d9","output_index":2,"delta":"{ \"location\": ","obfuscation":"4FZhoGBnjNsYATZ"}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":9,"item_id":"fc_68d9","output_index":2,"delta":"\"New York\" }","obfuscation":"4FZhoGBnjNsYATZ"}

        event: response.function_call_arguments.done
        data: {"type":"response.function_call_arguments.done","sequence_number":10,"item_id":"fc_68d9","output_index":2,"arguments":"{ \"location\": \"New York\" }"}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":11,"output_index":2,"item":{"id":"fc_68d9","type":"function_call","status":"completed","arguments":"{ \"location\": \"New York\" }","call_id":"call_5dp5Uj0Loqn1YcyIpqSq6sLX","name":"get_weather"}}

        event: response.completed
        data: {"type":"response.completed","sequence_number":12,"response":{"id":"resp_68d9","object":"response","status":"completed","error":null,"incomplete_details":null,"model":"gpt-5-2025-08-07","output":[],"usage":{"input_tokens":75,"input_tokens_details":{"cached_tokens":3},"output_tokens":155,"output_tokens_details":{"reasoning_tokens":128},"total_tokens":230}}}


        """# as String).utf8)

    @Test func aRecordedStreamDecodesToTextToolCallAndUsageWhereverItIsCut() throws {
        let (chunks, complete) = try expectEverySplitMatchesWhole(Self.recordedStream) { pieces in
            let (chunks, complete) = try WireStreamHarness.decode(pieces: pieces, with: OpenAIResponsesWire().makeDecoder())
            return Pair(chunks: chunks, complete: complete)
        }.tuple
        #expect(complete, "the terminal event completes the stream without [DONE]")
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.id == "resp_68d9" && completion.model == "gpt-5-2025-08-07" && completion.created == 1759064126)
        #expect(completion.text == "Current weather: ☀️")
        #expect(completion.choices[0].message.reasoning == "**Craft")
        let call = try #require(completion.choices[0].message.toolCalls?.first)
        #expect(call.id == "call_5dp5Uj0Loqn1YcyIpqSq6sLX" && call.function.name == "get_weather")
        #expect(call.function.arguments == #"{ "location": "New York" }"#)
        #expect(completion.choices[0].finishReason == .toolCalls && completion.choices[0].providerFinishReason == "completed")
        #expect(completion.usage == CompletionUsage(promptTokens: 75, completionTokens: 155, totalTokens: 230, cachedPromptTokens: 3,
                                                    reasoningTokens: 128))
        // The terminal event's response object is kept verbatim, the canonical record (§1.3).
        #expect(completion.response?["id"] == "resp_68d9" && completion.response?["usage"]?["total_tokens"] == 230)
        #expect(completion.response?["status"] == "completed")
    }

    /// A `created_at` no Int holds is left out instead of stopping the process (found by the
    /// fuzzer: `Int(1e300)` trapped).
    @Test func aCreatedTimeOutOfRangeIsLeftOut() throws {
        let stream = Array(#"""
            data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_C3","object":"response","created_at":1e300,"status":"in_progress","output":[]}}

            data: {"type":"response.output_text.delta","sequence_number":1,"output_index":0,"content_index":0,"delta":"Deimos"}


            """#.utf8)
        let (chunks, _) = try WireStreamHarness.decode(stream, with: OpenAIResponsesWire().makeDecoder())
        #expect(WireStreamHarness.accumulate(chunks).text == "Deimos")
        #expect(chunks.allSatisfy { $0.created == 0 })
        // The same in a whole (not streamed) response.
        let whole = try OpenAIResponsesWire().decodeCompletion(Array(#"{"id":"resp_C4","object":"response","created_at":-1e300,"status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Phobos"}]}]}"#.utf8))
        #expect(whole.created == 0 && whole.text == "Phobos")
    }

    @Test func anIncompleteResponseIsALengthStopWithItsUsage() throws {
        let stream = Array(#"""
            data: {"type":"response.output_text.delta","sequence_number":1,"output_index":0,"content_index":0,"delta":"Phobos"}

            data: {"type":"response.incomplete","sequence_number":2,"response":{"id":"resp_B2","object":"response","status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"},"output":[],"usage":{"input_tokens":20,"output_tokens":64,"total_tokens":84}}}

            data: [DONE]


            """#.utf8)
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: OpenAIResponsesWire().makeDecoder())
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(complete && completion.text == "Phobos")
        #expect(completion.choices[0].finishReason == .length && completion.choices[0].providerFinishReason == "max_output_tokens")
        #expect(completion.usage?.totalTokens == 84)
    }

    /// §1.6: the documented flat shape and the nested one api.openai.com sends both end the
    /// stream with the provider's code and message.
    @Test(arguments: [
        #"{"type":"error","code":"rate_limit_exceeded","message":"Slow down","param":null,"sequence_number":1}"#,
        #"{"type":"error","error":{"type":"tokens","code":"rate_limit_exceeded","message":"Slow down","param":null},"sequence_number":1}"#,
    ])
    func bothShapesOfTheErrorEventAreTheProvidersError(error: String) throws {
        let stream = Array(("""
            event: response.output_text.delta
            data: {"type":"response.output_text.delta","sequence_number":0,"delta":"Half"}

            event: error
            data: \(error)


            """).utf8)
        var decoder = OpenAIResponsesWire().makeDecoder()
        var parser = SSEParser()
        var seen: [String] = []
        var thrown: (any Error)?
        do {
            for event in try parser.feed(stream) { try decoder.decode(event) { if let c = $0.content { seen.append(c) } } }
        } catch {
            thrown = error
        }
        guard case WireError.providerError(let type, let message)? = thrown as? WireError else {
            Issue.record("expected the provider's error, got \(String(describing: thrown))")
            return
        }
        #expect(type == "rate_limit_exceeded" && message == "Slow down")
        #expect(seen == ["Half"], "what came before the error is kept")
    }

    @Test func aFailedResponseIsTheProvidersError() throws {
        let stream = Array(#"""
            data: {"type":"response.failed","sequence_number":3,"response":{"id":"resp_C3","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"incomplete_details":null,"output":[],"usage":null}}


            """#.utf8)
        #expect {
            _ = try WireStreamHarness.decode(stream, with: OpenAIResponsesWire().makeDecoder())
        } throws: { thrown in
            guard case WireError.providerError(let type, let message)? = thrown as? WireError else { return false }
            return type == "server_error" && message == "The model failed to generate a response."
        }
    }

    /// The object rebuilt when the provider's own is not at hand has what the SDK's `Response`
    /// requires (the strict-reader check validates it with the openai package).
    @Test func aRebuiltResponseObjectHasTheSDKsRequiredFieldsAndEchoesTheRequest() throws {
        let completion = ChatCompletion(
            id: "resp_1", created: 7, model: "gpt-4.1-mini",
            choices: [.init(index: 0, message: .init(content: "Phobos", toolCalls: [ToolCall(id: "call_1", function: .init(name: "f", arguments: "{}"))],
                                                     reasoning: "Two moons"),
                            finishReason: .length)],
            usage: CompletionUsage(promptTokens: 5, completionTokens: 16, cachedPromptTokens: 2, reasoningTokens: 4))
        let o = ResponseObject.make(completion, request: ["model": "gpt-4.1-mini", "input": "Hi", "instructions": "Be brief.",
                                                          "tools": [["type": "function", "name": "f"]], "metadata": ["k": "v"]])
        for key in ["id", "created_at", "model", "object", "output", "parallel_tool_calls", "tool_choice", "tools", "usage"] {
            #expect(o[key] != nil && o[key] != .null, "\(key)")
        }
        #expect(o["object"] == "response" && o["status"] == "incomplete" && o["incomplete_details"] == ["reason": "max_output_tokens"])
        #expect(o["output"]?.arrayValue?.map { $0["type"] } == ["reasoning", "message", "function_call"])
        #expect(o["output"]?.arrayValue?[1]["content"] == [["type": "output_text", "text": "Phobos", "annotations": []]])
        #expect(o["output"]?.arrayValue?[2]["call_id"] == "call_1")
        #expect(o["usage"] == ["input_tokens": 5, "input_tokens_details": ["cached_tokens": 2, "cache_write_tokens": 0], "output_tokens": 16,
                               "output_tokens_details": ["reasoning_tokens": 4], "total_tokens": 21])
        #expect(o["instructions"] == "Be brief." && o["metadata"] == ["k": "v"] && o["tool_choice"] == "auto" && o["parallel_tool_calls"] == true)
    }

    @Test func aRequestGoesToTheResponsesPathStreamedWithExtraBodyMerged() throws {
        let provider = Provider(name: "openai", kind: .openAI, baseURL: "https://api.openai.com/v1", apiKey: "sk-test")
        let body: JSONValue = ["model": "gpt-4.1-mini", "input": "Hi", "max_output_tokens": 32, "extra_body": ["seed_like": 1]]
        let request = try OpenAIResponsesWire().makeRequest(body, provider: provider, stream: true)
        #expect(request.url == "https://api.openai.com/v1/responses")
        let sent = try JSONValue.parse(request.body)
        #expect(sent == ["model": "gpt-4.1-mini", "input": "Hi", "max_output_tokens": 32, "seed_like": 1, "stream": true])
        #expect(ProviderKind.anthropic.responsesWire == nil && ProviderKind.gemini.responsesWire == nil)
    }

    @Test func theClientStreamsAResponsesBodyFromTheMockAsTheSameAnswerChatGets() async throws {
        try await withMockServer { server in
            let client = server.client()
            let provider = try client.provider(for: "gpt-4.1-mini")
            let body: JSONValue = ["model": "gpt-4.1-mini", "instructions": "Be brief.", "input": [["role": "user", "content": [["type": "input_text", "text": "Name two moons."]]]],
                                   "max_output_tokens": 40]
            let stream = try await client.stream(body: body, provider: provider, wire: OpenAIResponsesWire())
            var pieces: [String] = []
            for try await chunk in stream { if let c = chunk.content { pieces.append(c) } }
            let messages: [JSONValue] = [["role": "system", "content": "Be brief."], ["role": "user", "content": "Name two moons."]]
            let expected = MockContent.reply(model: "gpt-4.1-mini", messages: messages, maxTokens: 40)
            let tokens = MockContent.tokens(model: "gpt-4.1-mini", messages: messages).prefix(40)
            #expect(pieces.joined() == expected.text && pieces == Array(tokens))
            let completion = stream.completion
            #expect(completion.id.hasPrefix("resp_") && completion.model == "gpt-4.1-mini")
            #expect(completion.usage?.completionTokens == tokens.count && (completion.usage?.promptTokens ?? 0) > 0)
            #expect(completion.choices[0].finishReason == FinishReason(rawValue: expected.finishReason))
        }
    }

    @Test func aResponsesStreamCutByTheMockIsInterruptedWithWhatArrived() async throws {
        try await withMockServer { server in
            let client = server.client(fault: "drop:3")
            let body: JSONValue = ["model": "gpt-4.1-mini", "input": "Tell me a long story about moons."]
            let stream = try await client.stream(body: body, provider: try client.provider(for: "gpt-4.1-mini"), wire: OpenAIResponsesWire())
            await #expect {
                _ = try await stream.collect()
            } throws: { thrown in
                guard let e = thrown as? StreamError, e.kind == .interrupted else { return false }
                let full = MockContent.tokens(model: "gpt-4.1-mini", messages: [["role": "user", "content": "Tell me a long story about moons."]])
                return e.partial.text == full.prefix(3).joined()
            }
        }
    }

    @Test func aToolCallStreamsAsAToolCallDelta() async throws {
        try await withMockServer { server in
            let client = server.client()
            let body: JSONValue = ["model": "gpt-4.1-mini", "input": "Weather in Paris?",
                                   "tools": [["type": "function", "name": "lookup", "parameters": ["type": "object"]]]]
            let stream = try await client.stream(body: body, provider: try client.provider(for: "gpt-4.1-mini"), wire: OpenAIResponsesWire())
            let completion = try await stream.collect()
            let call = try #require(completion.choices[0].message.toolCalls?.first)
            #expect(call.function.name == "lookup" && call.id.hasPrefix("call_"))
            #expect((try? JSONValue.parse(call.function.arguments))?["query"]?.stringValue != nil)
            #expect(completion.choices[0].finishReason == .toolCalls)
        }
    }
}

/// A pair the every-split check can compare.
private struct Pair: Equatable {
    var chunks: [ChatCompletionChunk]
    var complete: Bool
    var tuple: ([ChatCompletionChunk], Bool) { (chunks, complete) }
}

