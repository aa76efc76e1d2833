import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("MockContent")
struct MockContentTests {
    @Test func reply_is_a_pure_function_of_model_and_messages() {
        let a = MockContent.tokens(model: "m", messages: Sample.messages)
        #expect(a == MockContent.tokens(model: "m", messages: Sample.messages))
        #expect(a != MockContent.tokens(model: "other", messages: Sample.messages))
        #expect(a != MockContent.tokens(model: "m", messages: Sample.messages(1)))
    }

    @Test func replies_are_12_to_60_tokens_of_words_and_newlines() {
        var sawNonASCII = false, sawNewline = false
        for n in 0..<300 {
            let tokens = MockContent.tokens(model: "m", messages: Sample.messages(n))
            #expect((12...60).contains(tokens.count))
            #expect(!tokens[0].hasPrefix(" ") && tokens[0] != "\n" && tokens[0] != "\n\n")
            #expect(!(tokens.last!.last!.isWhitespace), "a reply never ends in whitespace")
            for t in tokens.dropFirst() {
                #expect(t == "\n" || t == "\n\n" || !t.first!.isWhitespace || t.hasPrefix(" "))
            }
            let text = tokens.joined()
            sawNonASCII = sawNonASCII || text.utf8.contains { $0 >= 0x80 }
            sawNewline = sawNewline || text.contains("\n")
        }
        #expect(sawNonASCII && sawNewline)
    }

    @Test func max_tokens_cuts_without_changing_words() {
        let full = MockContent.reply(model: "m", messages: Sample.messages, maxTokens: nil)
        #expect(full.finishReason == "stop")
        let cut = MockContent.reply(model: "m", messages: Sample.messages, maxTokens: 5)
        #expect(cut.finishReason == "length")
        #expect(cut.text == MockContent.tokens(model: "m", messages: Sample.messages).prefix(5).joined())
        #expect(full.text.hasPrefix(cut.text))
    }

    @Test func provider_shapes_of_one_conversation_get_the_same_reply() {
        // The way a runner maps an OpenAI job to Anthropic or Gemini does not change the reply.
        let openAI = MockContent.tokens(model: "m", messages: Sample.messages)
        let anthropic = MockContent.tokens(model: "m", messages: [
            ["role": "system", "content": [["type": "text", "text": "You are   terse."]]],
            ["role": "user", "content": [["type": "text", "text": "Name two moons"], ["type": "text", "text": "of Mars."]]],
        ])
        let gemini = MockContent.tokens(model: "m", messages: [
            ["role": "system", "parts": [["text": "You are terse."]]],
            ["role": "user", "parts": [["text": "Name two moons of Mars."]]],
        ])
        #expect(openAI == anthropic)
        #expect(openAI == gemini)
    }

    @Test func fixed_tokens_extend_the_natural_reply() async throws {
        let natural = MockContent.tokens(model: Sample.model, messages: Sample.messages)
        try await withMockServer(config: MockConfig(fixedTokens: 100)) { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["max_tokens": 3]))
            let pieces = r.eventJSON.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.filter { !$0.isEmpty }
            #expect(pieces.count == 100)
            #expect(Array(pieces.prefix(natural.count)) == natural)
        }
    }
}
