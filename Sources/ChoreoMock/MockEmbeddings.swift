import Foundation

/// The mock's embeddings: one deterministic vector per input text, so a test can compute what a
/// run must have stored (`vector(for:dimensions:)`), and the request shapes of OpenAI's
/// `/v1/embeddings` and Gemini's `batchEmbedContents`, checked as the real APIs check them.
///
/// The rule: component j of a text's raw vector is `(h mod 2001 − 1000) / 1000`, h the FNV-1a hash
/// of the text's UTF-8 bytes followed by j as a little-endian UInt64; the vector is the raw one
/// scaled to unit length (as real embedding models' are), all in Float arithmetic. A text's
/// tokens are its whitespace-separated words (at least one).
public enum MockEmbeddings {
    /// The vector of `text` with `dimensions` values.
    public static func vector(for text: String, dimensions: Int) -> [Float] {
        var base = FNV1a()
        base.combine(text.utf8)
        var raw: [Float] = []
        raw.reserveCapacity(dimensions)
        var squares: Float = 0
        for j in 0..<dimensions {
            var h = base
            h.combine(UInt64(j))
            let x = Float(Int(h.value % 2001) - 1000) / 1000
            raw.append(x)
            squares += x * x
        }
        let norm = squares.squareRoot()
        return norm > 0 ? raw.map { $0 / norm } : raw
    }

    /// The tokens the mock bills for `text`.
    public static func tokens(of text: String) -> Int {
        max(1, text.split(whereSeparator: { $0.isWhitespace }).count)
    }

    /// The vector length when the request sets no `dimensions`: the real model's for the names
    /// the mock knows (3,072 for `text-embedding-3-large` and `gemini-embedding-*`, else 1,536).
    public static func defaultDimensions(model: String) -> Int {
        model.contains("3-large") || model.hasPrefix("gemini-embedding") ? 3072 : 1536
    }

    /// OpenAI's `CreateEmbeddingRequest` fields, and `mock`.
    static let openAIFields: Set<String> = ["model", "input", "dimensions", "encoding_format", "user", "mock"]
    /// OpenAI's limit on inputs per request.
    static let maxOpenAIInputs = 2048
    /// The longest input OpenAI's embedding models take, in tokens.
    public static let maxInputTokens = 8192
    /// Gemini's limit on requests per `batchEmbedContents` call.
    static let maxGeminiRequests = 100

    /// An embeddings request as the mock understands it, whatever dialect it arrived in.
    struct Request {
        var model: String
        var texts: [String]
        var dimensions: Int
        var base64 = false
        var bodyFault: MockBodyFault?

        /// Identifies the request for its attempt count (and so its faults).
        var key: UInt64 {
            var h = FNV1a()
            h.combine(model.utf8)
            for t in texts {
                h.combine(UInt64(t.utf8.count))
                h.combine(t.utf8)
            }
            h.combine(UInt64(dimensions))
            return h.value ^ (bodyFault?.key ?? 0)
        }

        var promptTokens: Int { texts.reduce(0) { $0 + MockEmbeddings.tokens(of: $1) } }
    }

    /// Reads an OpenAI embeddings body, refusing what api.openai.com refuses.
    static func openAIRequest(_ body: MockJSON) throws(MockRejection) -> Request {
        guard case .object(let fields) = body else { throw MockRejection(message: "The request body must be a JSON object.") }
        if let unknown = fields.keys.sorted().first(where: { !openAIFields.contains($0) }) {
            throw MockRejection(message: "Unrecognized request argument supplied: \(unknown)")
        }
        guard let model = body["model"]?.stringValue else { throw MockRejection(message: "you must provide a model parameter") }
        let texts: [String]
        switch body["input"] {
        case nil: throw MockRejection(message: "'input' is a required property")
        case .string(let s)?: texts = [s]
        case .array(let items)?:
            guard !items.isEmpty, items.count <= maxOpenAIInputs else {
                throw MockRejection(message: "'$.input' is invalid: an array of 1 to \(maxOpenAIInputs) inputs is required, got \(items.count).")
            }
            texts = try items.map { item throws(MockRejection) in
                guard let s = item.stringValue else { throw MockRejection(message: "'$.input' is invalid: the mock embeds text, not token ids.") }
                return s
            }
        default: throw MockRejection(message: "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
        }
        if let i = texts.firstIndex(where: \.isEmpty) {
            throw MockRejection(message: "'$.input' is invalid: input \(i) is an empty string.")
        }
        // As api.openai.com refuses an input over the model's context, the whole request with it.
        if let long = texts.map(tokens(of:)).first(where: { $0 > maxInputTokens }) {
            throw MockRejection(message: "This model's maximum context length is \(maxInputTokens) tokens, however you requested \(long) tokens "
                                + "(\(long) in your prompt; 0 for the completion). Please reduce your prompt; or completion length.")
        }
        var request = Request(model: model, texts: texts, dimensions: defaultDimensions(model: model))
        if let d = body["dimensions"], d != .null {
            guard let n = d.intValue, n >= 1 else { throw MockRejection(message: "Invalid value for 'dimensions': must be an integer of at least 1.") }
            guard !model.contains("ada") else { throw MockRejection(message: "This model does not support specifying dimensions.") }
            request.dimensions = n
        }
        switch body["encoding_format"] {
        case nil, .null?, .string("float")?: break
        case .string("base64")?: request.base64 = true
        default: throw MockRejection(message: "Invalid value for 'encoding_format': expected 'float' or 'base64'.")
        }
        request.bodyFault = try MockBodyFault.parse(body)
        return request
    }

    /// `{"object":"list","data":[…],"model":…,"usage":…}`, each vector as floats or base64 as asked.
    static func openAIResponse(_ r: Request) -> [UInt8] {
        var out = #"{"object":"list","data":["#
        for (i, text) in r.texts.enumerated() {
            if i > 0 { out += "," }
            out += #"{"object":"embedding","index":"# + String(i) + #","embedding":"#
            let v = vector(for: text, dimensions: r.dimensions)
            if r.base64 {
                out += "\"" + base64(v) + "\""
            } else {
                out += "[" + v.map { String($0) }.joined(separator: ",") + "]"
            }
            out += "}"
        }
        let tokens = String(r.promptTokens)
        out += #"],"model":"# + MockJSON.quoted(r.model) + #","usage":{"prompt_tokens":"# + tokens + #","total_tokens":"# + tokens + "}}"
        return Array(out.utf8)
    }

    /// Packed little-endian float32, base64: what OpenAI's `encoding_format: "base64"` sends.
    static func base64(_ v: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(v.count * 4)
        for x in v {
            let bits = x.bitPattern
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
        }
        return Data(bytes).base64EncodedString()
    }

    /// A `BatchEmbedContentsRequest` (fields of each `EmbedContentRequest` as the API knows them).
    static let geminiFields: Set<String> = ["requests", "mock"]
    static let geminiRequestFields: Set<String> = ["model", "content", "taskType", "title", "outputDimensionality"]

    /// Reads a Gemini `batchEmbedContents` body for the model in the path.
    static func geminiRequest(_ body: MockJSON, pathModel: String) throws(MockRejection) -> Request {
        guard case .object(let fields) = body else { throw MockRejection(message: "Invalid JSON payload received. Expected an object.") }
        if let unknown = fields.keys.sorted().first(where: { !geminiFields.contains($0) }) {
            throw MockRejection(message: "Invalid JSON payload received. Unknown name \"\(unknown)\": Cannot find field.")
        }
        guard let requests = body["requests"]?.arrayValue, !requests.isEmpty else {
            throw MockRejection(message: "* BatchEmbedContentsRequest.requests: requests is not specified")
        }
        guard requests.count <= maxGeminiRequests else {
            throw MockRejection(message: "* BatchEmbedContentsRequest.requests: at most \(maxGeminiRequests) requests can be in one batch")
        }
        var texts: [String] = []
        var dimensions: Int?
        for (i, r) in requests.enumerated() {
            if let unknown = r.objectValue?.keys.sorted().first(where: { !geminiRequestFields.contains($0) }) {
                throw MockRejection(message: "Invalid JSON payload received. Unknown name \"\(unknown)\" at 'requests[\(i)]': Cannot find field.")
            }
            guard r["model"]?.stringValue == "models/" + pathModel else {
                throw MockRejection(message: "* BatchEmbedContentsRequest.requests[\(i)].model: model must be models/\(pathModel), as in the URL")
            }
            let text = (r["content"]?["parts"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined()
            guard !text.isEmpty else { throw MockRejection(message: "* BatchEmbedContentsRequest.requests[\(i)].content: contents is not specified") }
            texts.append(text)
            if let d = r["outputDimensionality"]?.intValue {
                guard d >= 1 else { throw MockRejection(message: "* requests[\(i)].outputDimensionality: must be positive") }
                dimensions = d
            }
        }
        var request = Request(model: pathModel, texts: texts, dimensions: dimensions ?? defaultDimensions(model: pathModel))
        request.bodyFault = try MockBodyFault.parse(body)
        return request
    }

    /// `{"embeddings":[{"values":[…]}, …]}` in request order (no usage: the API reports none).
    static func geminiResponse(_ r: Request) -> [UInt8] {
        let list = r.texts.map { #"{"values":["# + vector(for: $0, dimensions: r.dimensions).map { String($0) }.joined(separator: ",") + "]}" }
        return Array((#"{"embeddings":["# + list.joined(separator: ",") + "]}").utf8)
    }
}
