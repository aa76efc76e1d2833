import ChoreoHTTP
import Foundation

/// OpenAI `POST /v1/embeddings` and the servers that copy it (vLLM, llama.cpp, Ollama `/v1`,
/// TEI, Infinity). wire-formats-2 §2.1.
///
/// A body without `encoding_format` is sent asking for `base64`, as the official Python SDK does
/// by default: packed float32 is about half the bytes of decimal text and exact. Either encoding
/// is read back (a server that ignores the field and sends floats is fine), and what the job
/// asked for decides only how its vectors are exported.
public struct OpenAIEmbeddingsWire: EmbeddingsWire {
    public init() {}

    /// OpenAI's limit on `input` items per request.
    public var maxInputsPerRequest: Int { 2048 }

    public func makeRequest(_ body: JSONValue, provider: Provider) throws -> HTTPRequest {
        guard case .object(var o) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        ParameterSupport.mergingExtraBody(&o, from: o)
        if o["encoding_format"] == nil { o["encoding_format"] = "base64" }
        var headers = headers(provider)
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "authorization", value: "Bearer \(key)") }
        return provider.post(path: "/embeddings", headers: headers, body: .object(o))
    }

    /// `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[…] | "base64…"}],
    /// "model":…,"usage":{"prompt_tokens":…,"total_tokens":…}}`, `data` put in `index` order.
    public func decode(_ body: [UInt8], model: String) throws -> Embeddings {
        let json = try parse(body)
        guard let data = json["data"]?.arrayValue else { throw WireError.malformed("the embeddings response has no \"data\" array") }
        var vectors = [[Float]?](repeating: nil, count: data.count)
        for item in data {
            guard let index = item["index"]?.intValue, vectors.indices.contains(index) else {
                throw WireError.malformed("an embedding's index is missing or out of 0..<\(data.count)")
            }
            guard vectors[index] == nil else { throw WireError.malformed("two embeddings have index \(index)") }
            switch item["embedding"] {
            case .array(let numbers)?:
                var v: [Float] = []
                v.reserveCapacity(numbers.count)
                for n in numbers {
                    guard let d = n.doubleValue else { throw WireError.malformed("embedding \(index) holds a \(n.typeName), not a number") }
                    v.append(Float(d))
                }
                vectors[index] = v
            case .string(let text)?:
                guard let bytes = Data(base64Encoded: text), let v = Embeddings.values(float32LittleEndian: bytes) else {
                    throw WireError.malformed("embedding \(index) is not base64 of packed float32")
                }
                vectors[index] = v
            default:
                throw WireError.malformed("embedding \(index) has no \"embedding\" array or base64 string")
            }
        }
        return try Self.embeddings(vectors.map { $0! }, model: json["model"]?.stringValue ?? model,
                                   promptTokens: json["usage"]?["prompt_tokens"]?.intValue)
    }

    /// Vectors of one length, packed.
    static func embeddings(_ vectors: [[Float]], model: String, promptTokens: Int?) throws -> Embeddings {
        let dimensions = vectors.first?.count ?? 0
        if let odd = vectors.firstIndex(where: { $0.count != dimensions }) {
            throw WireError.malformed("embedding \(odd) has \(vectors[odd].count) values, embedding 0 has \(dimensions)")
        }
        if dimensions == 0 && !vectors.isEmpty { throw WireError.malformed("the embeddings are empty") }
        return Embeddings(values: Array(vectors.joined()), dimensions: dimensions, model: model, promptTokens: promptTokens)
    }
}
