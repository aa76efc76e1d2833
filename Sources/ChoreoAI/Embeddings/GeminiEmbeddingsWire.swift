import ChoreoHTTP

/// Gemini `POST …/models/{model}:batchEmbedContents` (wire-formats-2 §2.2), spoken from an
/// OpenAI-shaped embeddings body: each input becomes one of `requests[]`, `dimensions` becomes
/// each one's `outputDimensionality`, and Gemini's own `taskType` and `title` go to each as they
/// are. `encoding_format` is Choreo's to honour in the export: Gemini sends floats. Any other
/// field (`mock`, or one let through by `--allow-unknown-params`) goes at the top level, as the
/// chat mapping does with fields it does not consume.
public struct GeminiEmbeddingsWire: EmbeddingsWire {
    public init() {}

    /// Fields of the OpenAI-shaped body that go into each request (or nowhere).
    static let consumedFields: Set<String> = ["model", "input", "dimensions", "encoding_format", "taskType", "title", "extra_body", "user"]

    /// Gemini's limit: "at most 100 requests can be in one batch".
    public var maxInputsPerRequest: Int { 100 }

    public func makeRequest(_ body: JSONValue, provider: Provider) throws -> HTTPRequest {
        guard case .object(let o) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        guard var model = o["model"]?.stringValue, !model.isEmpty else { throw WireError.invalidRequest("the body has no model") }
        if model.hasPrefix("models/") { model.removeFirst(7) }
        guard let inputs = Self.inputs(of: body) else { throw WireError.invalidRequest("input must be a string or an array of strings") }
        var template: [String: JSONValue] = ["model": .string("models/" + model)]
        if let d = o["dimensions"], !d.isNull { template["outputDimensionality"] = d }
        for key in ["taskType", "title"] { if let v = o[key] { template[key] = v } }
        ParameterSupport.mergingExtraBody(&template, from: o)
        let requests = inputs.map { text -> JSONValue in
            var r = template
            r["content"] = ["parts": [["text": .string(text)]]]
            return .object(r)
        }
        var headers = headers(provider)
        // The key goes in a header, never the URL: URLs end up in logs.
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "x-goog-api-key", value: key) }
        var top = o.filter { !Self.consumedFields.contains($0.key) }
        top["requests"] = .array(requests)
        return provider.post(path: "/models/" + GeminiWire.pathSegment(model) + ":batchEmbedContents", headers: headers,
                    body: .object(top))
    }

    /// `{"embeddings":[{"values":[…]}, …]}` in request order; usage only if the answer has
    /// `usageMetadata.promptTokenCount`.
    public func decode(_ body: [UInt8], model: String) throws -> Embeddings {
        let json = try parse(body)
        guard let list = json["embeddings"]?.arrayValue else { throw WireError.malformed("the response has no \"embeddings\" array") }
        let vectors = try list.enumerated().map { i, e -> [Float] in
            guard let values = e["values"]?.arrayValue else { throw WireError.malformed("embedding \(i) has no \"values\" array") }
            return try values.map { n in
                guard let d = n.doubleValue else { throw WireError.malformed("embedding \(i) holds a \(n.typeName), not a number") }
                return Float(d)
            }
        }
        return try OpenAIEmbeddingsWire.embeddings(vectors, model: model, promptTokens: json["usageMetadata"]?["promptTokenCount"]?.intValue)
    }
}
