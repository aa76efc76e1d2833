import ChoreoHTTP

/// How one provider's embeddings endpoint is spoken, from an OpenAI-shaped embeddings body
/// (`{"model", "input": string | [string], "dimensions"?, "encoding_format"?, …}`). Not streamed:
/// one request, one JSON answer. Error bodies are read by the provider's `WireFormat`.
public protocol EmbeddingsWire: Sendable {
    /// The request for `body`.
    func makeRequest(_ body: JSONValue, provider: Provider) throws -> HTTPRequest
    /// The vectors of a 2xx response body, in input order. `model` is the one asked for (Gemini's
    /// answer does not repeat it). Throws `WireError.malformed` for a body it cannot read, and a
    /// provider error for an error object sent with a 2xx.
    func decode(_ body: [UInt8], model: String) throws -> Embeddings
    /// The most inputs one request may carry.
    var maxInputsPerRequest: Int { get }
}

extension ProviderKind {
    /// The provider's embeddings endpoint; nil when it has none (Anthropic).
    public var embeddingsWire: (any EmbeddingsWire)? {
        switch self {
        case .openAI: return OpenAIEmbeddingsWire()
        case .gemini: return GeminiEmbeddingsWire()
        case .anthropic: return nil
        }
    }
}

extension EmbeddingsWire {
    /// The input of an embeddings body as a list (a string is a list of one); nil when it is not
    /// a string or an array of strings.
    public static func inputs(of body: JSONValue) -> [String]? {
        switch body["input"] {
        case .string(let s)?: return [s]
        case .array(let items)?:
            var out: [String] = []
            out.reserveCapacity(items.count)
            for item in items {
                guard let s = item.stringValue else { return nil }
                out.append(s)
            }
            return out
        default: return nil
        }
    }

    /// The headers every embeddings request carries (JSON in, JSON out) and the provider's own.
    func headers(_ provider: Provider) -> HeaderFields {
        var h = HeaderFields([("content-type", "application/json"), ("accept", "application/json"), ("user-agent", "choreo/0.1")])
        for f in provider.extraHeaders { h.add(name: f.name, value: f.value) }
        return h
    }

    /// The JSON of a 2xx body, or the error a provider sent inside one.
    func parse(_ body: [UInt8]) throws -> JSONValue {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch {
            throw WireError.malformed("not a JSON embeddings response: \(error)")
        }
        if let error = WireError.inBand(json, typeKeys: ["type", "status"], fallback: "error in the embeddings response", flat: true) { throw error }
        return json
    }
}
