import ChoreoAI
import ChoreoMock
import Foundation
import ChoreoTesting
import Testing

/// The mock's vector rule written out again here (FNV-1a of the text then the index, mapped to
/// [-1, 1] in thousandths, scaled to unit length), so a change to the mock's rule is seen.
private func ruleVector(_ text: String, _ dimensions: Int) -> [Float] {
    let raw = (0..<dimensions).map { j -> Float in
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in Array(text.utf8) + withUnsafeBytes(of: UInt64(j).littleEndian, Array.init) {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return Float(Int(h % 2001) - 1000) / 1000
    }
    let norm = raw.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    return raw.map { $0 / norm }
}

@Suite("Mock embeddings endpoints")
struct MockEmbeddingsTests {
    @Test func openAIEmbeddingsFollowTheDocumentedRuleAsFloatsOrBase64() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/embeddings", ["model": "text-embedding-3-small", "input": ["alpha", "beta gamma"], "dimensions": 6])
            #expect(r.status == 200)
            let json = try #require(r.json)
            #expect(json["object"] == "list" && json["model"] == "text-embedding-3-small")
            #expect(json["usage"] == ["prompt_tokens": 3, "total_tokens": 3])
            let data = try #require(json["data"]?.arrayValue)
            #expect(data.map { $0["index"] } == [0, 1])
            for (item, text) in zip(data, ["alpha", "beta gamma"]) {
                let values = try #require(item["embedding"]?.arrayValue).map { Float($0.doubleValue!) }
                #expect(values == ruleVector(text, 6))
                #expect(values == MockEmbeddings.vector(for: text, dimensions: 6))
            }
            // Each float32 printed in the fewest digits that read back as it, as OpenAI prints them.
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(text.contains("[" + ruleVector("alpha", 6).map { "\($0)" }.joined(separator: ",") + "]"))
            // base64: packed little-endian float32.
            let b = try await post(server, "/v1/embeddings", ["model": "m", "input": "alpha", "dimensions": 6, "encoding_format": "base64"])
            let packed = try #require(b.json?["data"]?.arrayValue?.first?["embedding"]?.stringValue)
            #expect(Data(base64Encoded: packed).flatMap { Embeddings.values(float32LittleEndian: $0) } == ruleVector("alpha", 6))
            // Without dimensions, the model's own length.
            let full = try await post(server, "/v1/embeddings", ["model": "text-embedding-3-large", "input": "alpha"])
            #expect(full.json?["data"]?.arrayValue?.first?["embedding"]?.arrayValue?.count == 3072)
        }
    }

    @Test func theMockRefusesWhatTheRealAPIsRefuse() async throws {
        try await withMockServer { server in
            func message(_ path: String, _ body: JSONValue) async throws -> String {
                let r = try await post(server, path, body)
                #expect(r.status == 400, "\(body)")
                return r.json?["error"]?["message"]?.stringValue ?? ""
            }
            #expect(try await message("/v1/embeddings", ["model": "m", "input": "a", "dimension": 4]) == "Unrecognized request argument supplied: dimension")
            #expect(try await message("/v1/embeddings", ["model": "m"]) == "'input' is a required property")
            #expect(try await message("/v1/embeddings", ["model": "m", "input": ["a", ""]]).contains("input 1 is an empty string"))
            #expect(try await message("/v1/embeddings", ["model": "text-embedding-ada-002", "input": "a", "dimensions": 8])
                    == "This model does not support specifying dimensions.")
            let many = JSONValue.array((0..<2049).map { .string("t\($0)") })
            #expect(try await message("/v1/embeddings", ["model": "m", "input": many]).contains("got 2049"))
            let long = String(repeating: "w ", count: MockEmbeddings.maxInputTokens + 1)
            #expect(try await message("/v1/embeddings", ["model": "m", "input": ["fine", .string(long)]]).contains("maximum context length is 8192 tokens"))
            let path = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
            let requests = JSONValue.array((0..<101).map { _ in ["model": "models/gemini-embedding-001", "content": ["parts": [["text": "a"]]]] })
            #expect(try await message(path, ["requests": requests]).contains("at most 100 requests can be in one batch"))
            let other: JSONValue = ["requests": [["model": "models/other", "content": ["parts": [["text": "a"]]]]]]
            #expect(try await message(path, other).contains("model must be models/gemini-embedding-001"))
            // A well-formed Gemini batch: one vector per request, in order, as floats.
            let ok = try await post(server, path, ["requests": [
                ["model": "models/gemini-embedding-001", "content": ["parts": [["text": "one"]]], "outputDimensionality": 3],
                ["model": "models/gemini-embedding-001", "content": ["parts": [["text": "two"]]], "outputDimensionality": 3],
            ]])
            let vectors = ok.json?["embeddings"]?.arrayValue?.map { $0["values"]!.arrayValue!.map { Float($0.doubleValue!) } }
            #expect(vectors == [ruleVector("one", 3), ruleVector("two", 3)])
        }
    }

    @Test func embeddingsFaultsStrikeAsForChat() async throws {
        try await withMockServer { server in
            let limited = try await post(server, "/v1/embeddings", ["model": "m", "input": "a"], headers: [("x-mock-fault", "429")])
            #expect(limited.status == 429 && limited.header("retry-after") != nil)
            #expect(limited.json?["error"]?["code"] == "rate_limit_exceeded")
            // The body's `mock`: the first attempt of this request fails, the next is answered.
            let body: JSONValue = ["model": "m", "input": "b", "dimensions": 2, "mock": ["fault": "500", "times": 1]]
            #expect(try await post(server, "/v1/embeddings", body).status == 500)
            let again = try await post(server, "/v1/embeddings", body)
            #expect(again.status == 200 && again.header("x-mock-attempt") == "2")
            // A drop closes the connection before any answer.
            await #expect(throws: TransportError.self) {
                _ = try await post(server, "/v1/embeddings", ["model": "m", "input": "c", "mock": ["fault": "drop"]])
            }
            // (curl sends a request again once when a reused connection closes without an answer.)
            let faults = server.stats().faultsByKind
            #expect(faults["429"] == 1 && faults["500"] == 1 && (faults["drop"] ?? 0) >= 1, "\(faults)")
        }
    }
}
