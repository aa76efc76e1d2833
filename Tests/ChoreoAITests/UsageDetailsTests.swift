import Testing
@testable import ChoreoAI

/// Cached and reasoning tokens as each provider bills them (wire-formats-2.md §4), and whether a
/// stream's usage is final or a running count.
@Suite struct UsageDetailsTests {
    static func sse(_ payloads: [String]) -> [UInt8] { Array(payloads.map { "data: \($0)\n\n" }.joined().utf8) }

    static func accumulate(_ chunks: [ChatCompletionChunk]) -> ChunkAccumulator {
        var acc = ChunkAccumulator()
        for c in chunks { acc.add(c) }
        return acc
    }

    @Test func openAIDetailsFromTheUsageChunk() throws {
        let bytes = Self.sse([
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"o4-mini","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"o4-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"o4-mini","choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":256,"audio_tokens":0}}}"#,
            "[DONE]",
        ])
        let (chunks, complete) = try WireStreamHarness.decode(bytes, with: OpenAIChunkDecoder())
        #expect(complete)
        let acc = Self.accumulate(chunks)
        #expect(acc.usage == CompletionUsage(promptTokens: 2006, completionTokens: 300, cachedPromptTokens: 1920, reasoningTokens: 256))
        #expect(acc.usageIsFinal)
        // Written back in OpenAI's shape.
        #expect(acc.usage?.json["prompt_tokens_details"]?["cached_tokens"] == 1920)
        #expect(acc.usage?.json["completion_tokens_details"]?["reasoning_tokens"] == 256)
    }

    @Test func deepSeekCacheHitsCountAsCached() {
        let u = CompletionUsage(json: ["prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36])
        #expect(u == CompletionUsage(promptTokens: 100, completionTokens: 5, cachedPromptTokens: 64))
    }

    @Test func anthropicCacheCountsFromMessageStartSurviveADeltaWithoutThem() throws {
        let bytes = Array([
            #"{"type":"message_start","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"cache_read_input_tokens":200,"cache_creation_input_tokens":30,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42,"output_tokens_details":{"thinking_tokens":12}}}"#,
            #"{"type":"message_stop"}"#,
        ].map { "event: x\ndata: \($0)\n\n" }.joined().utf8)
        let (chunks, complete) = try WireStreamHarness.decode(bytes, with: AnthropicChunkDecoder(created: 1))
        #expect(complete)
        let acc = Self.accumulate(chunks)
        // The three input counts are disjoint: the prompt is their sum; the cache counts stay apart.
        #expect(acc.usage == CompletionUsage(promptTokens: 240, completionTokens: 42, cachedPromptTokens: 200, cacheWriteTokens: 30, reasoningTokens: 12))
        #expect(acc.usageIsFinal)
    }

    @Test func geminiCachedAndThoughtTokensAndRunningCountsAreNotFinal() throws {
        let first = #"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":50,"cachedContentTokenCount":32,"candidatesTokenCount":1,"thoughtsTokenCount":7,"totalTokenCount":58}}"#
        let last = #"{"candidates":[{"content":{"parts":[{"text":" there"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":50,"cachedContentTokenCount":32,"candidatesTokenCount":3,"thoughtsTokenCount":7,"totalTokenCount":60}}"#
        let cut = Self.accumulate(try WireStreamHarness.decode(Self.sse([first]), with: GeminiChunkDecoder(created: 1)).chunks)
        #expect(cut.usage != nil && !cut.usageIsFinal)
        let whole = Self.accumulate(try WireStreamHarness.decode(Self.sse([first, last]), with: GeminiChunkDecoder(created: 1)).chunks)
        // Thoughts are billed as output: inside the completion count, and reported apart.
        #expect(whole.usage == CompletionUsage(promptTokens: 50, completionTokens: 10, cachedPromptTokens: 32, reasoningTokens: 7))
        #expect(whole.usageIsFinal)
    }

    @Test func usageBeforeTheFinishIsARunningCount() {
        var acc = ChunkAccumulator()
        acc.add(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(delta: .init(content: "a"))],
                                    usage: CompletionUsage(promptTokens: 5, completionTokens: 1)))
        #expect(!acc.usageIsFinal)
        acc.add(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(delta: .init(), finishReason: .stop)]))
        #expect(!acc.usageIsFinal)  // a finish with no usage after it: the last count is still a running one
        acc.add(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [], usage: CompletionUsage(promptTokens: 5, completionTokens: 9)))
        #expect(acc.usageIsFinal)
    }
}
