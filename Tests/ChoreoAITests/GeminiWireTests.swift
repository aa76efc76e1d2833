import Testing
@testable import ChoreoAI
import ChoreoTesting

@Suite struct GeminiWireTests {
    /// wire-formats.md §7.2, verbatim, with the CRLF line endings Gemini sends.
    static let recordedStream = crlf([
        #"{"candidates":[{"content":{"parts":[{"text":"Phobos"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":11,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r-7Hk"}"#,
        #"{"candidates":[{"content":{"parts":[{"text":" and Deimos."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":5,"totalTokenCount":16},"modelVersion":"gemini-2.5-flash","responseId":"r-7Hk"}"#,
    ])

    static func crlf(_ payloads: [String]) -> [UInt8] { Array(payloads.map { "data: \($0)\r\n\r\n" }.joined().utf8) }

    let provider = Provider(name: "gemini", kind: .gemini, baseURL: "https://generativelanguage.googleapis.com/v1beta",
                            apiKey: "AIza-test")

    @Test func recordedStreamDecodesToOpenAIChunks() throws {
        let (chunks, complete) = try WireStreamHarness.decode(Self.recordedStream, with: GeminiChunkDecoder(created: 1000))
        #expect(complete)
        #expect(chunks == [
            ChatCompletionChunk(id: "r-7Hk", created: 1000, model: "gemini-2.5-flash",
                                choices: [.init(delta: .init(role: .assistant, content: "Phobos"))],
                                usage: CompletionUsage(promptTokens: 11, completionTokens: 0)),
            ChatCompletionChunk(id: "r-7Hk", created: 1000, model: "gemini-2.5-flash",
                                choices: [.init(delta: .init(content: " and Deimos."), finishReason: .stop, providerFinishReason: "STOP")],
                                usage: CompletionUsage(promptTokens: 11, completionTokens: 5)),
        ])
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.id == "r-7Hk")
        #expect(completion.text == "Phobos and Deimos.")
        #expect(completion.choices[0].finishReason == .stop)
        #expect(completion.choices[0].message.toolCalls == nil)
        #expect(completion.usage == CompletionUsage(promptTokens: 11, completionTokens: 5, totalTokens: 16))
    }

    @Test func recordedStreamSplitAtEveryByteDecodesIdentically() throws {
        try expectEverySplitMatchesWhole(Self.recordedStream) { pieces in
            let decoded = try WireStreamHarness.decode(pieces: pieces, with: GeminiChunkDecoder(created: 1000))
            #expect(decoded.isComplete)
            return decoded.chunks
        }
    }

    @Test func streamIsCompleteOnlyAfterAFinishReason() throws {
        let first = Array(Self.recordedStream[..<(Self.recordedStream.count / 2)])
        #expect(try !WireStreamHarness.decode(first, with: GeminiChunkDecoder()).isComplete)
    }

    @Test func functionCallsArriveWholeAndStopBecomesToolCalls() throws {
        let stream = Self.crlf([
            #"{"candidates":[{"content":{"parts":[{"text":"Let me check.","thought":true},{"text":"Checking."}],"role":"model"},"index":0}],"responseId":"r1","modelVersion":"gemini-2.5-pro"}"#,
            #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}},{"functionCall":{"name":"get_time","args":{"tz":"CET"},"id":"fc-7"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":12,"thoughtsTokenCount":30,"totalTokenCount":62},"responseId":"r1"}"#,
        ])
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: GeminiChunkDecoder(created: 1000))
        #expect(complete)
        #expect(chunks[1].choices[0].delta.toolCalls == [
            .init(index: 0, id: "call_0", type: "function", name: "get_weather", arguments: #"{"city":"Oslo"}"#),
            .init(index: 1, id: "fc-7", type: "function", name: "get_time", arguments: #"{"tz":"CET"}"#),
        ])
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.text == "Checking.", "thought parts are not answer text")
        #expect(completion.choices[0].finishReason == .toolCalls)
        #expect(completion.choices[0].providerFinishReason == "STOP")
        #expect(completion.choices[0].message.toolCalls?.map(\.function.name) == ["get_weather", "get_time"])
        #expect(completion.usage == CompletionUsage(promptTokens: 20, completionTokens: 42, reasoningTokens: 30))  // thoughts: output, and reported apart
    }

    @Test func blockedPromptFinishesWithContentFilter() throws {
        let stream = Self.crlf([#"{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"responseId":"r2"}"#])
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: GeminiChunkDecoder(created: 1000))
        #expect(complete)
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.choices[0].finishReason == .contentFilter)
        #expect(completion.choices[0].providerFinishReason == "SAFETY")
        #expect(completion.text == "")
    }

    @Test func errorInStreamThrowsProviderError() throws {
        let stream = Self.crlf([#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#])
        #expect {
            _ = try WireStreamHarness.decode(stream, with: GeminiChunkDecoder())
        } throws: { error in
            guard case WireError.providerError(let type, let message) = error else { return false }
            return type == "UNAVAILABLE" && message == "The model is overloaded."
        }
    }

    @Test(arguments: [("STOP", false, FinishReason.stop), ("STOP", true, .toolCalls), ("MAX_TOKENS", false, .length),
                      ("SAFETY", false, .contentFilter), ("RECITATION", false, .contentFilter), ("BLOCKLIST", false, .contentFilter),
                      ("PROHIBITED_CONTENT", false, .contentFilter), ("SPII", false, .contentFilter), ("LANGUAGE", false, .contentFilter),
                      ("IMAGE_SAFETY", false, .contentFilter), ("MALFORMED_FUNCTION_CALL", false, .error), ("OTHER", false, .error),
                      ("FINISH_REASON_UNSPECIFIED", false, .error), ("SOMETHING_NEW", false, .error)])
    func finishReasonMaps(raw: String, withCall: Bool, expected: FinishReason) throws {
        let part = withCall ? #"{"functionCall":{"name":"f","args":{}}}"# : #"{"text":"x"}"#
        let stream = Self.crlf([#"{"candidates":[{"content":{"parts":[\#(part)],"role":"model"},"finishReason":"\#(raw)","index":0}]}"#])
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: GeminiChunkDecoder())
        #expect(complete)
        #expect(chunks[0].choices[0].finishReason == expected)
        #expect(chunks[0].choices[0].providerFinishReason == raw)
    }

    @Test func requestMapsSystemToolsToolResultsAndToolCalls() throws {
        let body = WireStreamHarness.json(#"""
            {"model":"gemini-2.5-flash",
             "messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":[{"type":"text","text":"Answer in English."}]},
              {"role":"user","content":"Weather in Oslo and Bergen?"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bergen\"}"}}]},
              {"role":"tool","tool_call_id":"call_0","content":"4°C, rain"},
              {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":6}"},
              {"role":"user","content":[{"type":"text","text":"And this?"},
                                        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",
                       "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
             "tool_choice":"auto", "max_tokens":300, "temperature":0.2, "top_p":0.9, "stop":["END"], "seed":7, "n":1,
             "response_format":{"type":"json_object"}, "stream_options":{"include_usage":true}, "user":"u-1",
             "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}
            """#)
        let request = try GeminiWire().makeRequest(body, provider: provider, stream: true)
        #expect(request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        #expect(request.headers["x-goog-api-key"] == "AIza-test")
        #expect(!request.url.contains("key="))
        #expect(try JSONValue.parse(request.body) == WireStreamHarness.json(#"""
            {"contents":[
              {"role":"user","parts":[{"text":"Weather in Oslo and Bergen?"}]},
              {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}},
                                       {"functionCall":{"name":"get_weather","args":{"city":"Bergen"}}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"4°C, rain"}}},
                                      {"functionResponse":{"name":"get_weather","response":{"temp_c":6}}}]},
              {"role":"user","parts":[{"text":"And this?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]}],
             "systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Answer in English."}]},
             "generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":300,"stopSequences":["END"],"seed":7,
                                 "candidateCount":1,"responseMimeType":"application/json"},
             "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Current weather",
                       "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}],
             "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},
             "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}
            """#))
    }

    @Test func nonStreamingRequestUsesGenerateContent() throws {
        let body: JSONValue = ["model": "models/gemini-2.5-pro", "messages": [["role": "user", "content": "hi"]],
                               "tools": [["type": "function", "function": ["name": "f"]]],
                               "tool_choice": ["type": "function", "function": ["name": "f"]]]
        let keyless = Provider(name: "g", kind: .gemini, baseURL: "http://127.0.0.1:9/v1beta")
        let request = try GeminiWire().makeRequest(body, provider: keyless, stream: false)
        #expect(request.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:generateContent")
        #expect(request.headers["x-goog-api-key"] == nil)
        let sent = try JSONValue.parse(request.body)
        #expect(sent["toolConfig"] == ["functionCallingConfig": ["mode": "ANY", "allowedFunctionNames": ["f"]]])
        #expect(sent["model"] == nil && sent["messages"] == nil && sent["tool_choice"] == nil)
    }

    @Test func toolResultWithoutAMatchingCallIsRejected() {
        let body: JSONValue = ["model": "gemini-x", "messages": [["role": "tool", "tool_call_id": "nope", "content": "1"]]]
        #expect(throws: WireError.self) { try GeminiWire().makeRequest(body, provider: provider, stream: true) }
    }

    @Test func noPrefillContinuation() {
        #expect(GeminiWire().continuation(of: ["model": "gemini-x", "messages": []], partial: "abc") == nil)
    }

    @Test func nonStreamingResponseDecodes() throws {
        let completion = try GeminiWire().decodeCompletion(Array(#"""
            {"candidates":[{"content":{"parts":[{"text":"Phobos and "},{"text":"Deimos."}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],
             "usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":5,"totalTokenCount":16},"modelVersion":"gemini-2.5-flash","responseId":"r-9"}
            """#.utf8))
        #expect(completion.id == "r-9" && completion.model == "gemini-2.5-flash")
        #expect(completion.text == "Phobos and Deimos.")
        #expect(completion.choices[0].finishReason == .length)
        #expect(completion.usage == CompletionUsage(promptTokens: 11, completionTokens: 5))
    }
    @Test func errorInStreamWithoutMessageKeepsTheFallback() throws {
        #expect {
            _ = try WireStreamHarness.decode(Self.crlf([#"{"error":{"code":500,"status":"INTERNAL"}}"#]), with: GeminiChunkDecoder())
        } throws: { error in
            guard case WireError.providerError(let type, let message) = error else { return false }
            return type == "INTERNAL" && message == "error in stream"
        }
    }

    @Test func stopStringImageURLAndBadToolArgumentsMap() throws {
        let body: JSONValue = ["model": "gemini-x", "stop": "END", "messages": [["role": "user", "content": [
            ["type": "image_url", "image_url": "https://example.com/a.png?x=1"]]]],
                               "tools": [["type": "function", "function": ["name": "f"]], ["googleSearch": [:]]]]
        let sent = try JSONValue.parse(GeminiWire().makeRequest(body, provider: provider, stream: true).body)
        #expect(sent["generationConfig"]?["stopSequences"] == ["END"])
        #expect(sent["contents"]?.arrayValue?[0]["parts"] == [["fileData": ["mimeType": "image/png", "fileUri": "https://example.com/a.png?x=1"]]])
        #expect(sent["tools"] == [["functionDeclarations": [["name": "f"]]], ["googleSearch": [:]]])
        let bad: JSONValue = ["model": "gemini-x", "messages": [
            ["role": "assistant", "tool_calls": [["id": "c", "type": "function", "function": ["name": "f", "arguments": "[1,"]]]]]]
        #expect {
            _ = try GeminiWire().makeRequest(bad, provider: provider, stream: true)
        } throws: { error in
            guard case WireError.invalidRequest(let m) = error else { return false }
            return m.hasPrefix("messages[0].tool_calls: the arguments are not JSON (")
        }
    }
}
