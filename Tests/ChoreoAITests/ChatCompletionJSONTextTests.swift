import Testing
@testable import ChoreoAI

/// `ChatCompletion.jsonBytes` writes the keys itself; every job's stored `response` is its text,
/// so it must stay byte for byte what `json.jsonBytes` gives (sorted keys, the same numbers and
/// escapes), whatever fields a completion has.
@Suite("A completion's JSON text, written directly")
struct ChatCompletionJSONTextTests {
    static let usages: [CompletionUsage?] = [
        nil,
        CompletionUsage(promptTokens: 12, completionTokens: 256),
        CompletionUsage(promptTokens: 1200, completionTokens: 40, cachedPromptTokens: 1024),
        CompletionUsage(promptTokens: 1200, completionTokens: 40, totalTokens: 9999, cachedPromptTokens: 3, cacheWriteTokens: 800,
                        reasoningTokens: 30),
    ]

    static let messages: [ChatCompletion.Message] = [
        .init(content: "The quick brown fox. Café \"quoted\"\n naïve résumé 🎵 \\ \u{1}\t"),
        .init(content: nil, refusal: "I can't help with that."),
        .init(content: "", refusal: nil),
        .init(role: "assistant", content: nil, toolCalls: [
            ToolCall(id: "call_1", function: .init(name: "get_weather", arguments: #"{"city":"Zürich"}"#)),
            ToolCall(id: "call_2", type: "function", function: .init(name: "noop", arguments: "")),
        ]),
        .init(content: "answer", toolCalls: [], reasoning: "first I think \"hard\"", reasoningSignature: "sig=="),
        .init(role: "model", content: "日本語", reasoning: ""),
    ]

    static func completions() -> [ChatCompletion] {
        var all: [ChatCompletion] = []
        for (m, message) in messages.enumerated() {
            for (u, usage) in usages.enumerated() {
                let reason: FinishReason? = [nil, .stop, .length, .toolCalls, "content_filter"][(m + u) % 5]
                var choice = ChatCompletion.Choice(index: 0, message: message, finishReason: reason)
                if u % 2 == 1 { choice.logprobs = ["content": [["token": "Hi", "logprob": -0.25, "bytes": [72, 105]]], "refusal": nil] }
                var second = choice
                second.index = 1
                second.message.content = "second \"choice\""
                all.append(ChatCompletion(id: m % 2 == 0 ? "chatcmpl-\(m)\(u)" : "", created: 1_741_570_283 + u, model: "gpt-4o-mini\u{7F}",
                                          systemFingerprint: u % 2 == 0 ? "fp_06737a9306" : nil,
                                          choices: u == 3 ? [] : (m % 3 == 0 ? [choice, second] : [choice]), usage: usage))
            }
        }
        return all
    }

    @Test func theBytesAreTheTreesBytes() throws {
        let all = Self.completions()
        #expect(all.count == Self.messages.count * Self.usages.count)
        for completion in all {
            let direct = completion.jsonBytes, tree = completion.json.jsonBytes
            #expect(direct == tree, "\(String(decoding: direct, as: UTF8.self))\n\(String(decoding: tree, as: UTF8.self))")
            #expect(completion.jsonString == completion.json.jsonString)
            #expect(try JSONValue.parse(direct) == completion.json)
        }
    }
}
