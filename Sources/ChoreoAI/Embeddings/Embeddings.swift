import Foundation

/// Embedding vectors as a provider returned them, in input order: `count` vectors of
/// `dimensions` float32 values each, one after another in `values`.
///
/// Float32 because that is what the providers compute and send: OpenAI's `base64` encoding is
/// packed little-endian float32, and its `float` encoding prints each float32 in the fewest digits
/// that read back as it (wire-formats-2 §2.1), so nothing is lost by keeping 4 bytes a value.
public struct Embeddings: Sendable, Hashable {
    /// Every vector's values, the first vector's first.
    public var values: [Float]
    /// Values per vector (0 only when there is no vector).
    public var dimensions: Int
    /// The model the provider says answered (it may name a version of the one asked for).
    public var model: String
    /// The prompt tokens the provider billed; nil when it did not say (Gemini's batchEmbedContents).
    public var promptTokens: Int?

    public init(values: [Float], dimensions: Int, model: String, promptTokens: Int?) {
        self.values = values
        self.dimensions = dimensions
        self.model = model
        self.promptTokens = promptTokens
    }

    /// How many vectors.
    public var count: Int { dimensions == 0 ? 0 : values.count / dimensions }

    /// The `i`th vector (from 0), in input order.
    public func vector(_ i: Int) -> ArraySlice<Float> { values[(i * dimensions)..<((i + 1) * dimensions)] }

    /// The vectors `range` of these, with the same model and no usage (the caller splits that).
    public func vectors(_ range: Range<Int>) -> Embeddings {
        Embeddings(values: Array(values[(range.lowerBound * dimensions)..<(range.upperBound * dimensions)]), dimensions: dimensions,
                   model: model, promptTokens: nil)
    }

    // MARK: Packed float32

    /// The values as packed little-endian float32: 4 bytes a value, what `jobs.embedding` holds and
    /// what OpenAI's `encoding_format: "base64"` encodes.
    public var float32LittleEndian: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        bytes.withUnsafeMutableBytes { out in
            for (i, v) in values.enumerated() { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        }
        return bytes
    }

    /// The values of packed little-endian float32 bytes; nil when their length is not a multiple of 4.
    public static func values(float32LittleEndian bytes: some Collection<UInt8>) -> [Float]? {
        guard bytes.count % 4 == 0 else { return nil }
        let array = Array(bytes)
        return array.withUnsafeBytes { raw in
            (0..<(array.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// One vector as OpenAI's base64 `embedding` string (packed little-endian float32).
    public static func base64(_ vector: some Collection<Float>) -> String {
        Data(Embeddings(values: Array(vector), dimensions: vector.count, model: "", promptTokens: nil).float32LittleEndian).base64EncodedString()
    }

    /// One vector as a JSON array, each value in the fewest digits that read back as the same
    /// float32 (as OpenAI prints them: `0.0023064255`, not the double nearest to it).
    public static func writeJSONArray(_ vector: some Collection<Float>, to out: inout String) {
        out += "["
        var first = true
        for v in vector {
            if !first { out += "," }
            first = false
            // JSON has no NaN or infinity; a provider never sends them, and a stored one is written as null.
            out += v.isFinite ? v.description : "null"
        }
        out += "]"
    }
}
