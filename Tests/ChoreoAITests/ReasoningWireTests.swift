import Testing
@testable import ChoreoAI
import ChoreoTesting

/// Reasoning in each provider's stream (wire-formats-2 §3) lands in `reasoning`, never in the text.
@Suite struct ReasoningWireTests {
    @Test func anthropicThinkingAndItsSignatureAreKeptApartFromTheText() throws {
        let stream = Array((#"""
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_t","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants two moons"}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: content_block_start
            data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Phobos and Deimos."}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":1}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":30}}

            event: message_stop
            data: {"type":"message_stop"}


            """# as String).utf8)
        let (chunks, complete) = try WireStreamHarness.decode(stream, with: AnthropicWire().makeDecoder())
        #expect(complete)
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.text == "Phobos and Deimos.")
        #expect(completion.choices[0].message.reasoning == "The user wants two moons")
        #expect(completion.choices[0].message.reasoningSignature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3h")
        #expect(completion.json["choices"]?.arrayValue?.first?["message"]?["reasoning_content"] == "The user wants two moons")
    }

    @Test func geminiThoughtPartsAreReasoningNotText() throws {
        let stream = Array((#"""
            data: {"candidates":[{"content":{"parts":[{"text":"**Identifying the moons**\n\nThe user wants","thought":true}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":11,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r-7Hk"}

            data: {"candidates":[{"content":{"parts":[{"text":"Phobos and Deimos."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":5,"thoughtsTokenCount":80,"totalTokenCount":96},"modelVersion":"gemini-2.5-flash","responseId":"r-7Hk"}


            """# as String).utf8)
        let (chunks, _) = try WireStreamHarness.decode(stream, with: GeminiWire().makeDecoder())
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.text == "Phobos and Deimos.")
        #expect(completion.choices[0].message.reasoning == "**Identifying the moons**\n\nThe user wants")
    }

    @Test func openAICompatibleReasoningContentIsReasoningNotText() throws {
        let stream = Array((#"""
            data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Two"},"finish_reason":null}]}

            data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":" moons."},"finish_reason":null}]}

            data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":"Phobos"},"finish_reason":"stop"}]}

            data: [DONE]


            """# as String).utf8)
        let chunks = try expectEverySplitMatchesWhole(stream) { try WireStreamHarness.decode(pieces: $0, with: OpenAIWire().makeDecoder()).chunks }
        let completion = WireStreamHarness.accumulate(chunks)
        #expect(completion.text == "Phobos")
        #expect(completion.choices[0].message.reasoning == "Two moons.")
    }
}
