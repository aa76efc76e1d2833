import ChoreoHTTP

/// A 2xx embeddings response: the vectors and the response head (rate-limit headers, request id).
public struct EmbeddingsResponse: Sendable {
    public var embeddings: Embeddings
    public var head: HTTPResponseHead
    /// Bytes of the response body.
    public var bytesReceived: Int
}

extension ChoreoClient {
    /// `client.embeddings.create(model:input:)`, as in the OpenAI SDK.
    public var embeddings: EmbeddingsAPI { EmbeddingsAPI(client: self) }

    /// The largest embeddings response read (a 2,048 × 3,072 answer in decimal text is ~75 MB).
    static let maxEmbeddingsResponseBytes = 512 << 20

    /// Sends `body` (an OpenAI embeddings body) to `provider`, not streamed, and returns the
    /// vectors once the whole answer has arrived. An HTTP error status throws `APIError` with the
    /// body decoded; a 2xx answer that breaks off throws `StreamError` (`interrupted`), one that
    /// cannot be read `WireError.malformed`; a provider without an embeddings endpoint
    /// (Anthropic) throws `WireError.invalidRequest` before anything is sent.
    public func embed(body: JSONValue, provider: Provider) async throws -> EmbeddingsResponse {
        guard let wire = provider.kind.embeddingsWire else {
            throw WireError.invalidRequest("provider \(provider.name) (\(provider.kind.rawValue)) has no embeddings endpoint")
        }
        let response = try await transport.execute(try wire.makeRequest(body, provider: provider), in: pending)
        try await Self.checkStatus(response, wire: provider.kind.wireFormat, provider: provider)
        let bytes: [UInt8]
        do {
            bytes = try await response.body.collect(upTo: Self.maxEmbeddingsResponseBytes)
        } catch let error as TransportError {
            // The answer began (a 2xx) and broke off: as a stream that began and broke, not a sign
            // of an outage, and the provider has done (and billed) the work.
            throw StreamError(kind: .interrupted, message: "the embeddings response broke off: \(error.message)",
                              partial: ChatCompletion(id: "", created: 0, model: "", choices: [], usage: nil), underlying: error)
        }
        if bytes.count >= Self.maxEmbeddingsResponseBytes {
            throw TransportError(kind: .protocolError, message: "the embeddings response is larger than \(Self.maxEmbeddingsResponseBytes >> 20) MiB")
        }
        do {
            let embeddings = try wire.decode(bytes, model: body["model"]?.stringValue ?? "")
            return EmbeddingsResponse(embeddings: embeddings, head: response.head, bytesReceived: bytes.count)
        } catch WireError.malformed(let message) {
            throw WireError.malformed(Redaction.redacting(provider.apiKey, in: message))
        } catch WireError.providerError(let type, let message) {
            throw WireError.providerError(type: type.map { Redaction.redacting(provider.apiKey, in: $0) },
                                          message: Redaction.redacting(provider.apiKey, in: message))
        }
    }
}

/// `client.embeddings`.
public struct EmbeddingsAPI: Sendable {
    let client: ChoreoClient

    /// Embeds `input` (one vector per string, in order) with `model`, routed as chat models are.
    /// `dimensions` shortens the vectors where the model allows it (`text-embedding-3-*`, Gemini).
    public func create(model: String, input: [String], dimensions: Int? = nil) async throws -> Embeddings {
        var body: [String: JSONValue] = ["model": .string(model), "input": .array(input.map { .string($0) })]
        if let dimensions { body["dimensions"] = .int(Int64(dimensions)) }
        return try await client.embed(body: .object(body), provider: try client.provider(for: model)).embeddings
    }
}
