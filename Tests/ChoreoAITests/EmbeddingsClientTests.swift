import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// `client.embeddings` and `embed(body:provider:)` against real servers on 127.0.0.1.
@Suite("Embeddings client")
struct EmbeddingsClientTests {
    @Test func createReturnsTheMocksVectorsFromOpenAIAndGemini() async throws {
        try await withMockServer { server in
            let client = server.client()
            for model in ["text-embedding-3-small", "gemini-embedding-001"] {
                let e = try await client.embeddings.create(model: model, input: ["alpha", "beta"], dimensions: 5)
                #expect(e.count == 2 && e.dimensions == 5, "\(model)")
                #expect(Array(e.vector(1)) == MockEmbeddings.vector(for: "beta", dimensions: 5), "\(model)")
                #expect(e.model == model)
            }
            // The OpenAI one was asked for base64 (the body did not say) and reports its usage;
            // Gemini reports none.
            let openAI = try await client.embed(body: ["model": "text-embedding-3-small", "input": "one two three"],
                                                provider: try client.provider(for: "text-embedding-3-small"))
            #expect(openAI.embeddings.promptTokens == 3 && openAI.embeddings.dimensions == 1536)
            #expect(openAI.head.headers.requestID?.hasPrefix("req_mock_") == true)
            let gemini = try await client.embeddings.create(model: "gemini-embedding-001", input: ["x"])
            #expect(gemini.promptTokens == nil)
        }
    }

    @Test func anthropicHasNoEmbeddingsAndNothingIsSent() async throws {
        try await withMockServer { server in
            let client = server.client()
            await #expect(throws: WireError.self) { _ = try await client.embeddings.create(model: "claude-sonnet-4-5", input: ["a"]) }
            #expect(server.stats().requests == 0)
        }
    }

    @Test func anEmbeddingsBodyThatBreaksOffOrCannotBeReadIsAFailureOfItsKind() async throws {
        let replies = [
            // A 200 whose body ends early (its Content-Length promises more).
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"object\":\"list\",\"data\":[",
            // Two vectors of different lengths.
            ScriptedServer.errorReply(status: "200 OK", json: #"{"object":"list","data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1]}],"model":"m"}"#),
            // An index given twice.
            ScriptedServer.errorReply(status: "200 OK", json: #"{"object":"list","data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}],"model":"m"}"#),
            // An error object sent with a 200.
            ScriptedServer.errorReply(status: "200 OK", json: #"{"error":{"message":"busy","type":"server_error"}}"#),
        ]
        for (i, reply) in replies.enumerated() {
            try await withScriptedServer(answering: { _ in [.send(reply)] }) { server in
                let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
                let client = ChoreoClient(router: router)
                do {
                    _ = try await client.embeddings.create(model: "text-embedding-3-small", input: ["a", "b"])
                    Issue.record("reply \(i) was accepted")
                } catch {
                    let kind = RequestFailure.classify(error).kind
                    let expected: [FailureKind] = [.interrupted, .malformed, .malformed, .malformed]
                    #expect(kind == expected[i], "reply \(i): \(error)")
                    if i == 0 { #expect(error is StreamError) }
                }
            }
        }
    }

    @Test func packedFloat32RoundTripsAndPrintsAsFloat32() throws {
        let values: [Float] = [1, 2, -0.5, 0.0023064255, .leastNonzeroMagnitude]
        let e = Embeddings(values: values, dimensions: 5, model: "m", promptTokens: nil)
        #expect(Embeddings.values(float32LittleEndian: e.float32LittleEndian) == values)
        // The base64 the reference gives for [1.0, 2.0] (wire-formats-2 §2.1), little-endian.
        #expect(Embeddings.base64([1, 2]) == "AACAPwAAAEA=")
        #expect(Embeddings.values(float32LittleEndian: [1, 2, 3]) == nil)
        var text = ""
        Embeddings.writeJSONArray([0.0023064255, -0.009327292, 1], to: &text)
        #expect(text == "[0.0023064255,-0.009327292,1.0]")
    }
}
