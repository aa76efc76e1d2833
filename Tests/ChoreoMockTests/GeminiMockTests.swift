import ChoreoAI
import ChoreoMock
import Foundation
import ChoreoTesting
import Testing

@Suite("Mock Gemini endpoint")
struct GeminiMockTests {
    @Test func sseStreamWithCRLFAndNoTerminator() async throws {
        try await withMockServer { server in
            let r = try await post(server, Sample.geminiPath, Sample.gemini())
            #expect(r.status == 200)
            #expect(r.error == nil)
            #expect(r.geminiText == MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: nil).text)
            let raw = String(decoding: r.body, as: UTF8.self)
            #expect(raw.hasSuffix("}\r\n\r\n"))
            #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n\n"), "events end with CRLF CRLF")
            let chunks = r.eventJSON
            #expect(chunks.count > 1)
            #expect(chunks.dropLast().allSatisfy { $0["candidates"]?.at(0)?["finishReason"] == nil })
            #expect(chunks.last?["candidates"]?.at(0)?["finishReason"] == "STOP")
            let tokens = MockContent.tokens(model: Sample.model, messages: Sample.messages).count
            #expect(chunks.last?["usageMetadata"]?["candidatesTokenCount"]?.intValue == tokens)
        }
    }

    @Test func maxOutputTokensAndNonStreamed() async throws {
        try await withMockServer { server in
            let expected = MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: 5).text
            let r = try await post(server, Sample.geminiPath, Sample.gemini(maxTokens: 5))
            #expect(r.geminiText == expected)
            #expect(r.eventJSON.last?["candidates"]?.at(0)?["finishReason"] == "MAX_TOKENS")
            let whole = try await post(server, "/v1beta/models/\(Sample.model):generateContent", Sample.gemini(maxTokens: 5))
            #expect(whole.json?["candidates"]?.at(0)?["content"]?["parts"]?.at(0)?["text"]?.stringValue == expected)
        }
    }

    @Test func functionCallArrivesWhole() async throws {
        try await withMockServer { server in
            var body = Sample.gemini()
            body["tools"] = [["functionDeclarations": [["name": "lookup"]]]]
            let r = try await post(server, Sample.geminiPath, body)
            #expect(r.eventJSON.count == 1)
            let part = r.eventJSON.first?["candidates"]?.at(0)?["content"]?["parts"]?.at(0)
            #expect(part?["functionCall"]?["name"] == "lookup")
            #expect(part?["functionCall"]?["args"]?["query"]?.stringValue != nil)
            #expect(r.eventJSON.first?["candidates"]?.at(0)?["finishReason"] == "STOP")
        }
    }
}
