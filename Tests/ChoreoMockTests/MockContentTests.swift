import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("MockContent")
struct MockContentTests {
    @Test func replyIsAPureFunctionOfModelAndMessages() {
        let a = MockContent.tokens(model: "m", messages: Sample.messages)
        #expect(a == MockContent.tokens(model: "m", messages: Sample.messages))
        #expect(a != MockContent.tokens(model: "other", messages: Sample.messages))
        #expect(a != MockContent.tokens(model: "m", messages: Sample.messages(1)))
    }

    @Test func repliesAre12To60TokensOfWordsAndNewlines() {
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

    @Test func maxTokensCutsWithoutChangingWords() {
        let full = MockContent.reply(model: "m", messages: Sample.messages, maxTokens: nil)
        #expect(full.finishReason == "stop")
        let cut = MockContent.reply(model: "m", messages: Sample.messages, maxTokens: 5)
        #expect(cut.finishReason == "length")
        #expect(cut.text == MockContent.tokens(model: "m", messages: Sample.messages).prefix(5).joined())
        #expect(full.text.hasPrefix(cut.text))
    }

    @Test func providerShapesOfOneConversationGetTheSameReply() {
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

    @Test func fixedTokensExtendTheNaturalReply() async throws {
        let natural = MockContent.tokens(model: Sample.model, messages: Sample.messages)
        try await withMockServer(config: MockConfig(fixedTokens: 100)) { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["max_tokens": 3]))
            let pieces = r.eventJSON.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.filter { !$0.isEmpty }
            #expect(pieces.count == 100)
            #expect(Array(pieces.prefix(natural.count)) == natural)
        }
    }
}
