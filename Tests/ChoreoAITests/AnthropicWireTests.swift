import Testing
@testable import ChoreoAI
import ChoreoTesting

/// Feeds recorded stream bytes through `SSEParser` and a decoder, whole or in two pieces.
/// Shared by the provider wire-format suites.
enum WireStreamHarness {
    static func decode(_ bytes: [UInt8], with decoder: some ChunkDecoder) throws -> (chunks: [ChatCompletionChunk], isComplete: Bool) {
        try decode(pieces: [bytes[...]], with: decoder)
    }

    /// Decodes a stream that arrives in `pieces` (see `expectEverySplitMatchesWhole`).
    static func decode(pieces: [ArraySlice<UInt8>], with decoder: some ChunkDecoder) throws
        -> (chunks: [ChatCompletionChunk], isComplete: Bool)
    {
        var decoder = decoder
        var parser = SSEParser()
        var chunks: [ChatCompletionChunk] = []
        for piece in pieces {
            for event in try parser.feed(Array(piece)) { try decoder.decode(event) { chunks.append($0) } }
        }
        return (chunks, decoder.isComplete)
    }

    static func accumulate(_ chunks: [ChatCompletionChunk]) -> ChatCompletion {
        var acc = ChunkAccumulator()
        for c in chunks { acc.add(c) }
        return acc.completion
    }

    static func json(_ text: String) -> JSONValue { try! JSONValue.parse(text) }
}

@Suite struct AnthropicWireTests {
    /// wire-formats.md §6.2, verbatim.
    static let recordedStream = Array((#"""
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_01Ab","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type":"ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking the"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" weather."}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01Xy","name":"get_weather","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"lo\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":37}}

        event: message_stop
        data: {"type":"message_stop"}
        """# + "\n\n").utf8)

    static func chunk(_ delta: ChatCompletionChunk.Delta = .init(), finish: FinishReason? = nil, raw: String? = nil,
                      usage: CompletionUsage? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(id: "msg_01Ab", created: 1000, model: "claude-sonnet-4-5",
                            choices: finish == nil && usage != nil ? [] : [.init(delta: delta, finishReason: finish, providerFinishReason: raw)],
                            usage: usage)
    }

    static func events(_ lines: [String]) -> [UInt8] {
        Array(lines.map { "event: x\ndata: \($0)\n\n" }.joined().utf8)
    }

    let provider = Provider(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com", apiKey: "sk-ant-test")

    @Test func recordedStreamDecodesToOpenAIChunks() throws {
        let (chunks, complete) = try WireStreamHarness.decode(Self.recordedStream, with: AnthropicChunkDecoder(created: 1000))
        #expect(complete)
        #expect(chunks == [
            Self.chunk(.init(role: .assistant, content: "")),
            Self.chunk(.init(content: "Checking the")),
            Self.chunk(.init(content: " weather.")),
            Self.chunk(.init(toolCalls: [.init(index: 0, id: "toolu_01Xy", type: "function", name: "get_weather", arguments: "")])),
            Self.chunk(.init(toolCalls: [.init(index: 0, arguments: "")])),
            Self.chunk(.init(toolCalls: [.init(index: 0, arguments: #"{"city": "Os"#)])),
            Self.chunk(.init(toolCalls: [.init(index: 0, arguments: #"lo"}"#)])),
            Self.chunk(finish: .toolCalls, raw: "tool_use", usage: CompletionUsage(promptTokens: 42, completionTokens: 37)),
        ])
    }

    @Test func recordedStreamAccumulatesToTheCompletion() throws {
        let (chunks, _) = try WireStreamHarness.decode(Self.recordedStream, with: AnthropicChunkDecoder(created: 1000))
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.id == "msg_01Ab")
        #expect(completion.model == "claude-sonnet-4-5")
        #expect(completion.text == "Checking the weather.")
        #expect(completion.choices[0].message.toolCalls == [
            ToolCall(id: "toolu_01Xy", function: .init(name: "get_weather", arguments: #"{"city": "Oslo"}"#)),
        ])
        #expect(completion.choices[0].finishReason == .toolCalls)
        #expect(completion.choices[0].providerFinishReason == "tool_use")
        #expect(completion.usage == CompletionUsage(promptTokens: 42, completionTokens: 37, totalTokens: 79))
    }

    @Test func recordedStreamSplitAtEveryByteDecodesIdentically() throws {
        try expectEverySplitMatchesWhole(Self.recordedStream) { pieces in
            let decoded = try WireStreamHarness.decode(pieces: pieces, with: AnthropicChunkDecoder(created: 1000))
            #expect(decoded.isComplete)
            return decoded.chunks
        }
    }

    @Test func streamWithoutMessageStopIsNotComplete() throws {
        let cut = Array(Self.recordedStream.dropLast(#"event: message_stop\#ndata: {"type":"message_stop"}\#n\#n"#.utf8.count))
        let (chunks, complete) = try WireStreamHarness.decode(cut, with: AnthropicChunkDecoder(created: 1000))
        #expect(!complete)
        #expect(chunks.count == 8)
    }

    @Test func errorEventThrowsProviderError() throws {
        let stream = Self.events([#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1}}}"#,
                                  #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#])
        #expect {
            _ = try WireStreamHarness.decode(stream, with: AnthropicChunkDecoder(created: 1000))
        } throws: { error in
            guard case WireError.providerError(let type, let message) = error else { return false }
            return type == "overloaded_error" && message == "Overloaded"
        }
    }

    @Test func thinkingUnknownEventsAndCacheUsage() throws {
        let stream = Self.events([
            #"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            #"{"type":"brand_new_event","stuff":1}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
            #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"now","input":{}}}"#,
            #"{"type":"content_block_stop","index":2}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
            #"{"type":"message_stop"}"#,
        ])
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: AnthropicChunkDecoder(created: 1000))
        #expect(complete)
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.text == "Hi")
        // A tool with no input streams no argument text: its arguments are `{}`, not "".
        #expect(completion.choices[0].message.toolCalls == [ToolCall(id: "toolu_2", function: .init(name: "now", arguments: "{}"))])
        // The cache counts are kept apart (priced at their own rates) and stay within the prompt.
        #expect(completion.usage == CompletionUsage(promptTokens: 115, completionTokens: 9, cachedPromptTokens: 100, cacheWriteTokens: 5))
    }

    @Test(arguments: [("end_turn", FinishReason.stop), ("stop_sequence", .stop), ("max_tokens", .length),
                      ("model_context_window_exceeded", .length), ("tool_use", .toolCalls), ("refusal", .contentFilter),
                      ("pause_turn", .stop), ("something_new", .error)])
    func stopReasonMapsToFinishReason(raw: String, expected: FinishReason) throws {
        let stream = Self.events([#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1}}}"#,
                                  #"{"type":"message_delta","delta":{"stop_reason":"\#(raw)"},"usage":{"output_tokens":2}}"#])
        let (chunks, _) = try WireStreamHarness.decode(stream, with: AnthropicChunkDecoder(created: 1000))
        #expect(chunks.last?.choices.first?.finishReason == expected)
        #expect(chunks.last?.choices.first?.providerFinishReason == raw)
    }

    @Test func requestMapsSystemToolsToolResultsAndToolCalls() throws {
        let body = WireStreamHarness.json(#"""
            {"model":"claude-sonnet-4-5",
             "messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":"Answer in English."},
              {"role":"user","content":"Weather in Oslo and Bergen?"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
                {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bergen\"}"}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"4°C, rain"},
              {"role":"tool","tool_call_id":"toolu_2","content":"6°C, cloudy"},
              {"role":"user","content":[{"type":"text","text":"And this?"},
                                        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
                                        {"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}}]}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",
                       "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
             "tool_choice":"required", "parallel_tool_calls":false,
             "max_completion_tokens":300, "temperature":0.2, "top_p":0.9, "stop":"END", "seed":7, "n":1, "logprobs":false,
             "response_format":{"type":"text"}, "stream_options":{"include_usage":true}, "user":"u-1", "top_k":40}
            """#)
        let request = try AnthropicWire().makeRequest(body, provider: provider, stream: true)
        #expect(request.url == "https://api.anthropic.com/v1/messages")
        #expect(request.headers["x-api-key"] == "sk-ant-test")
        #expect(request.headers["anthropic-version"] == "2023-06-01")
        #expect(request.headers["authorization"] == nil)
        #expect(try JSONValue.parse(request.body) == WireStreamHarness.json(#"""
            {"model":"claude-sonnet-4-5","system":"Be brief.\n\nAnswer in English.",
             "messages":[
              {"role":"user","content":"Weather in Oslo and Bergen?"},
              {"role":"assistant","content":[
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}},
                {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Bergen"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"4°C, rain"},
                                        {"type":"tool_result","tool_use_id":"toolu_2","content":"6°C, cloudy"}]},
              {"role":"user","content":[{"type":"text","text":"And this?"},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
                {"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}]}],
             "tools":[{"name":"get_weather","description":"Current weather",
                       "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},
             "max_tokens":300,"temperature":0.2,"top_p":0.9,"stop_sequences":["END"],"metadata":{"user_id":"u-1"},
             "top_k":40,"stream":true}
            """#))
    }

    @Test func maxTokensDefaultsAndKeyIsOptional() throws {
        let body: JSONValue = ["model": "claude-x", "messages": [["role": "user", "content": "hi"]], "tool_choice": "auto"]
        let keyless = Provider(name: "local", kind: .anthropic, baseURL: "http://127.0.0.1:9/")
        let request = try AnthropicWire().makeRequest(body, provider: keyless, stream: false)
        let sent = try JSONValue.parse(request.body)
        #expect(request.url == "http://127.0.0.1:9/v1/messages")
        #expect(request.headers["x-api-key"] == nil)
        #expect(sent["max_tokens"] == .int(Int64(AnthropicWire.defaultMaxTokens)))
        #expect(sent["stream"] == false)
        #expect(sent["tool_choice"] == nil, "no tool_choice without tools")
    }

    static let toolChoices: [(JSONValue, JSONValue)] = [
        ("auto", ["type": "auto"]), ("required", ["type": "any"]), ("none", ["type": "none"]),
        (["type": "function", "function": ["name": "f"]], ["type": "tool", "name": "f"]),
    ]

    @Test(arguments: toolChoices)
    func toolChoiceMaps(openAI: JSONValue, anthropic: JSONValue) throws {
        let body: JSONValue = ["model": "claude-x", "messages": [["role": "user", "content": "hi"]], "tool_choice": openAI,
                               "tools": [["type": "function", "function": ["name": "f"]]]]
        let sent = try JSONValue.parse(AnthropicWire().makeRequest(body, provider: provider, stream: true).body)
        #expect(sent["tool_choice"] == anthropic)
        #expect(sent["tools"] == [["name": "f", "input_schema": ["type": "object", "properties": [:]]]])
    }

    @Test func continuationTrimsTrailingWhitespaceFromThePrefill() throws {
        let body: JSONValue = ["model": "claude-x", "messages": [["role": "user", "content": "List moons."]]]
        let (next, sent) = try #require(AnthropicWire().continuation(of: body, partial: "{\"moons\": [\"Io\", \n\t "))
        #expect(sent == "{\"moons\": [\"Io\",")
        #expect(next["messages"] == [["role": "user", "content": "List moons."], ["role": "assistant", "content": "{\"moons\": [\"Io\","]])
        // Nothing but whitespace: nothing to prefill; the caller restarts.
        #expect(AnthropicWire().continuation(of: body, partial: " \n") == nil)
        // Prefill is not available with extended thinking.
        var thinking = body
        thinking["thinking"] = ["type": "enabled", "budget_tokens": 2000]
        #expect(AnthropicWire().continuation(of: thinking, partial: "abc") == nil)
    }

    @Test func nonStreamingMessageDecodes() throws {
        let completion = try AnthropicWire().decodeCompletion(Array(#"""
            {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
             "content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Io, "},{"type":"text","text":"Europa."},
                        {"type":"tool_use","id":"toolu_9","name":"log","input":{"n":1}}],
             "stop_reason":"end_turn","stop_sequence":null,
             "usage":{"input_tokens":18,"cache_read_input_tokens":2,"output_tokens":9}}
            """#.utf8))
        #expect(completion.id == "msg_01")
        #expect(completion.text == "Io, Europa.")
        #expect(completion.choices[0].message.toolCalls == [ToolCall(id: "toolu_9", function: .init(name: "log", arguments: #"{"n":1}"#))])
        #expect(completion.choices[0].finishReason == .stop)
        #expect(completion.usage == CompletionUsage(promptTokens: 20, completionTokens: 9, cachedPromptTokens: 2))
        #expect(throws: WireError.self) {
            try AnthropicWire().decodeCompletion(Array(#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#.utf8))
        }
    }
    /// In-band errors keep their type, message and per-site fallback message.
    @Test func inBandErrorsKeepTypeAndFallbackMessage() throws {
        func providerError(_ body: () throws -> Void) -> (type: String?, message: String)? {
            do { try body() } catch WireError.providerError(let type, let message) { return (type, message) } catch {}
            return nil
        }
        let full = providerError { _ = try AnthropicWire().decodeCompletion(Array(#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#.utf8)) }
        #expect(full?.type == "api_error" && full?.message == "boom")
        let bare = providerError { _ = try AnthropicWire().decodeCompletion(Array(#"{"type":"error"}"#.utf8)) }
        #expect(bare?.type == nil && bare?.message == "unknown error")
        let event = providerError { _ = try WireStreamHarness.decode(Self.events([#"{"type":"error","error":{"type":"x"}}"#]), with: AnthropicChunkDecoder()) }
        #expect(event?.type == "x" && event?.message == "error in stream")
    }

    @Test func stopStringsAndBadToolArgumentsMap() throws {
        func sent(_ extra: [String: JSONValue]) throws -> JSONValue {
            var body: [String: JSONValue] = ["model": "claude-x", "messages": [["role": "user", "content": "hi"]]]
            for (k, v) in extra { body[k] = v }
            return try JSONValue.parse(AnthropicWire().makeRequest(.object(body), provider: provider, stream: false).body)
        }
        #expect(try sent(["stop": ["a", "b"]])["stop_sequences"] == ["a", "b"])
        #expect(try sent(["stop_sequences": ["native"]])["stop_sequences"] == ["native"], "kept when there is no stop")
        #expect(try sent(["stop": 3])["stop_sequences"] == nil)
        let bad: JSONValue = ["role": "assistant", "tool_calls": [["id": "t", "type": "function", "function": ["name": "f", "arguments": "{"]]]]
        #expect {
            _ = try sent(["messages": [["role": "user", "content": "hi"], bad]])
        } throws: { error in
            guard case WireError.invalidRequest(let m) = error else { return false }
            return m.hasPrefix("messages[1].tool_calls: the arguments are not JSON (")
        }
        let empty: JSONValue = ["role": "assistant", "tool_calls": [["id": "t", "type": "function", "function": ["name": "f", "arguments": ""]]]]
        #expect(try sent(["messages": [empty]])["messages"]?.arrayValue?[0]["content"]?.arrayValue?[0]["input"] == [:])
    }
}
