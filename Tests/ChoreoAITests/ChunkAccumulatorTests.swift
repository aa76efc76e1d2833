import Testing
@testable import ChoreoAI

@Suite("Chunk accumulator")
struct ChunkAccumulatorTests {
    func chunks(_ sse: String) throws -> [ChatCompletionChunk] {
        var parser = SSEParser()
        var decoder = OpenAIWire().makeDecoder()
        var out: [ChatCompletionChunk] = []
        for event in try parser.feed(Array(sse.utf8)) { try decoder.decode(event) { out.append($0) } }
        return out
    }

    @Test func textUsageAndFinishReasonFromTheRecordedStream() throws {
        let sse = """
            data: {"id":"chatcmpl-Z9","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

            data: {"id":"chatcmpl-Z9","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Two"},"logprobs":null,"finish_reason":null}],"usage":null}

            data: {"id":"chatcmpl-Z9","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" moons."},"logprobs":null,"finish_reason":null}],"usage":null}

            data: {"id":"chatcmpl-Z9","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

            data: {"id":"chatcmpl-Z9","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":3,"total_tokens":17}}

            data: [DONE]


            """
        var acc = ChunkAccumulator()
        for c in try chunks(sse) { acc.add(c) }
        let c = acc.completion
        #expect(c.text == "Two moons.")
        #expect(c.choices[0].finishReason == "stop")
        #expect(c.usage == CompletionUsage(promptTokens: 14, completionTokens: 3))
        #expect(c.id == "chatcmpl-Z9")
        #expect(c.choices[0].message.toolCalls == nil)
    }

    /// The text is gathered as bytes and decoded when read (`settleText`): read at any point,
    /// settled or not, it is every chunk's text so far, for each choice.
    @Test func textReadBetweenChunksSettledOrNotIsEveryChunksTextSoFar() {
        let pieces = ["Two", " moons", "", " naïve", " 🎵", "\u{3000}", " e\u{301}", "."]
        var acc = ChunkAccumulator()
        var expected = ["", ""]
        for (i, piece) in pieces.enumerated() {
            for index in [0, 1] {
                acc.add(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: index, delta: .init(content: piece + "\(index)"))]))
                expected[index] += piece + "\(index)"
            }
            if i % 3 == 0 { acc.settleText() }
            #expect(acc.text == expected[0])
            #expect(acc.textsOfEveryChoice == expected)
            if i % 2 == 0 { acc.settleText() }
            #expect(acc.completion.choices.map(\.message.content) == expected)
        }
        acc.settleText()
        acc.settleText()
        #expect(acc.text == expected[0] && acc.textsOfEveryChoice == expected)
    }

    /// A chunk with text and only text is folded by appending its text (`add`'s shortcut). One
    /// that carries anything more beside its text — each field the accumulator reads, a second
    /// choice, another choice's index — keeps all of it, between plain text chunks before and after.
    @Test(arguments: ["finish", "logprobs", "refusal", "reasoning", "signature", "tool call", "usage", "other index", "two choices"])
    func textWithAnythingMoreBesideItKeepsTheRest(extra: String) {
        var acc = ChunkAccumulator()
        func add(_ choices: [ChatCompletionChunk.Choice], usage: CompletionUsage? = nil) {
            acc.add(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: choices, usage: usage))
        }
        add([.init(delta: .init(role: .assistant, content: "One"))])
        var choice = ChatCompletionChunk.Choice(delta: .init(content: " two"))
        var choices: [ChatCompletionChunk.Choice] { [choice] }
        var usage: CompletionUsage?
        switch extra {
        case "finish": choice.finishReason = .length
        case "logprobs": choice.logprobs = ["content": [["token": " two", "logprob": -0.5]]]
        case "refusal": choice.delta.refusal = "no"
        case "reasoning": choice.delta.reasoning = "hmm"
        case "signature": choice.delta.reasoningSignature = "sig"
        case "tool call": choice.delta.toolCalls = [.init(index: 0, id: "call_1", name: "f", arguments: "{}")]
        case "usage": (choice.finishReason, usage) = (.stop, CompletionUsage(promptTokens: 3, completionTokens: 2))
        case "other index": choice.index = 1
        default: break
        }
        if extra == "two choices" {
            add([choice, .init(index: 1, delta: .init(content: "second"))])
        } else {
            add(choices, usage: usage)
        }
        add([.init(delta: .init(content: " three"))])
        let c = acc.completion
        #expect(acc.chunkCount == 3 && acc.outputChunkCount == 3)
        #expect(c.text == (extra == "other index" ? "One three" : "One two three"))
        let first = c.choices[0]
        switch extra {
        case "finish": #expect(first.finishReason == .length)
        case "logprobs": #expect(first.logprobs?["content"]?.arrayValue?.count == 1)
        case "refusal": #expect(first.message.refusal == "no")
        case "reasoning": #expect(first.message.reasoning == "hmm")
        case "signature": #expect(first.message.reasoningSignature == "sig")
        case "tool call": #expect(first.message.toolCalls == [ToolCall(id: "call_1", function: .init(name: "f", arguments: "{}"))])
        case "usage": #expect(first.finishReason == .stop && acc.usage?.totalTokens == 5 && acc.usageIsFinal)
        case "other index": #expect(c.choices.count == 2 && c.choices[1].message.content == " two")
        default: #expect(c.choices.count == 2 && c.choices[1].message.content == "second")
        }
        if extra != "finish" && extra != "usage" { #expect(first.finishReason == nil) }
    }

    @Test func parallelToolCallsAssembledByIndex() throws {
        let sse = """
            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Q1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":\\"Os"}}]},"finish_reason":null}]}

            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Q2","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":null}]}

            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"lo\\"}"}}]},"finish_reason":null}]}

            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"tz\\":\\"CET\\"}"}}]},"finish_reason":null}]}

            data: {"id":"T1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}


            """
        var acc = ChunkAccumulator()
        for c in try chunks(sse) { acc.add(c) }
        let calls = acc.completion.choices[0].message.toolCalls ?? []
        #expect(calls.map(\.id) == ["call_Q1", "call_Q2"])
        #expect(calls.map(\.function.name) == ["get_weather", "get_time"])
        #expect(calls.map(\.function.arguments) == ["{\"city\":\"Oslo\"}", "{\"tz\":\"CET\"}"])
        #expect(acc.completion.choices[0].message.content == nil)
        #expect(acc.completion.choices[0].finishReason == .toolCalls)
    }

    @Test func fragmentsWithoutIndexFollowTheIDRule() {
        var acc = ChunkAccumulator()
        func add(_ deltas: [ChatCompletionChunk.ToolCallDelta], finish: FinishReason? = nil) {
            acc.add(ChatCompletionChunk(id: "x", created: 1, model: "m",
                                        choices: [.init(delta: .init(toolCalls: deltas), finishReason: finish)]))
        }
        add([.init(index: nil, id: "a", name: "f", arguments: "{\"x\":")])
        add([.init(index: nil, arguments: "1}")])
        add([.init(index: nil, id: "b", name: "g", arguments: "{}")])
        add([], finish: .stop)
        let calls = acc.completion.choices[0].message.toolCalls ?? []
        #expect(calls.map(\.id) == ["a", "b"])
        #expect(calls.map(\.function.arguments) == ["{\"x\":1}", "{}"])
        // `stop` with tool calls present is reported as `tool_calls`.
        #expect(acc.completion.choices[0].finishReason == .toolCalls)
    }

    @Test func missingIDIsSynthesisedAndNamesAreNotConcatenated() {
        var acc = ChunkAccumulator()
        for args in ["{\"a\"", ":1}"] {
            acc.add(ChatCompletionChunk(id: "resp", created: 1, model: "m", choices: [
                .init(delta: .init(toolCalls: [.init(index: 0, name: "lookup", arguments: args)]))]))
        }
        let call = acc.completion.choices[0].message.toolCalls?.first
        #expect(call?.id == "call_resp_0")
        #expect(call?.function.name == "lookup")
        #expect(call?.function.arguments == "{\"a\":1}")
    }

    @Test func usageIsCumulativeLastValueWins() {
        var acc = ChunkAccumulator()
        acc.add(ChatCompletionChunk(id: "x", created: 1, model: "m", choices: [], usage: CompletionUsage(promptTokens: 5, completionTokens: 1)))
        acc.add(ChatCompletionChunk(id: "x", created: 1, model: "m", choices: [], usage: CompletionUsage(promptTokens: 5, completionTokens: 9)))
        #expect(acc.completion.usage?.completionTokens == 9)
    }

    @Test func inBandErrorIsAProviderError() throws {
        var decoder = OpenAIWire().makeDecoder()
        let event = SSEEvent(data: Array(#"{"error":{"message":"The server had an error","type":"server_error"}}"#.utf8))
        #expect(throws: WireError.self) { try decoder.decode(event) { _ in } }
        let vllm = SSEEvent(data: Array(#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#.utf8))
        #expect(throws: WireError.self) { try decoder.decode(vllm) { _ in } }
    }

    /// A chunk is blank exactly when every scalar is Unicode whitespace, the definition the
    /// continuation's seam uses; the ASCII shortcut decides the same as the property tables.
    @Test func blankIsUnicodeWhitespaceWithAnASCIIShortcut() {
        for v in 0..<0x3100 {
            guard let scalar = Unicode.Scalar(v) else { continue }
            let text = String(Character(scalar))
            #expect(ChunkAccumulator.isBlank(text) == scalar.properties.isWhitespace, "U+\(String(v, radix: 16))")
            #expect(ChunkAccumulator.isBlank(" \n" + text + "\t") == scalar.properties.isWhitespace, "U+\(String(v, radix: 16))")
        }
        #expect(ChunkAccumulator.isBlank(""))
        #expect(ChunkAccumulator.isBlank(" \u{A0}\u{3000}\u{2028}\r\n"))
        #expect(!ChunkAccumulator.isBlank("  x  "))
    }
}

extension ChunkAccumulator {
    /// `isBlank` of a `String`'s bytes.
    static func isBlank(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isBlank($0) }
    }
}
