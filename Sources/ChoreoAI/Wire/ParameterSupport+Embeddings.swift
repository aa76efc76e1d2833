/// What each wire format does with each embeddings body parameter (`/v1/embeddings` lines), as
/// `ParameterSupport` does for chat: docs/providers.md has the table. Anthropic has no
/// embeddings endpoint at all; `choreo submit` refuses such a line before asking about its
/// parameters.
extension ParameterSupport {
    /// OpenAI's `CreateEmbeddingRequest` (wire-formats-2 §2.1).
    static let openAIEmbeddingsParameters: Set<String> = ["model", "input", "dimensions", "encoding_format", "user", "extra_body"]
    /// Gemini's own fields of an `EmbedContentRequest`, passed to each request as they are.
    static let geminiEmbeddingsNative: Set<String> = ["taskType", "title"]

    /// How `kind` handles embeddings parameter `key`; nil when it does not know it.
    public static func embeddingsHandling(_ key: String, _ value: JSONValue, kind: ProviderKind) -> Handling? {
        if key == "extra_body" || key == "mock" { return .passed }
        switch kind {
        case .openAI:
            return openAIEmbeddingsParameters.contains(key) ? .passed : nil
        case .gemini:
            switch key {
            case "model": return .mapped("requests[].model")
            case "input": return .mapped("requests[].content.parts, one request per input")
            case "dimensions": return .mapped("requests[].outputDimensionality")
            case "encoding_format": return .mapped("(Gemini sends floats; Choreo encodes the export as asked)")
            case "taskType", "title": return .passed
            case "user": return .rejected("Gemini has no user; remove it")
            default: return nil
            }
        case .anthropic:
            return .rejected("Anthropic has no embeddings endpoint")
        }
    }

    /// Every embeddings parameter `kind` knows, for "did you mean".
    public static func knownEmbeddingsParameters(_ kind: ProviderKind) -> [String] {
        var names = openAIEmbeddingsParameters
        if kind == .gemini { names.formUnion(geminiEmbeddingsNative) }
        return names.sorted()
    }
}
