/// What the Responses API takes (`/v1/responses` lines), as `ParameterSupport` does for chat:
/// docs/providers.md has the table. Only OpenAI-compatible providers have the endpoint;
/// `choreo submit` refuses a line routed elsewhere before asking about its parameters.
extension ParameterSupport {
    /// OpenAI's `ResponseCreateParams` (platform.openai.com API reference, 2026; wire-formats-2 §1.1).
    static let openAIResponsesParameters: Set<String> = [
        "model", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
        "previous_response_id", "conversation", "prompt", "prompt_cache_key", "prompt_cache_retention", "reasoning", "include",
        "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
        "top_logprobs", "top_p", "truncation", "user", "background", "extra_body",
    ]

    /// How `kind` handles Responses parameter `key`; nil when it does not know it.
    public static func responsesHandling(_ key: String, _ value: JSONValue, kind: ProviderKind) -> Handling? {
        if key == "extra_body" || key == "mock" { return .passed }
        switch kind {
        case .openAI: return openAIResponsesParameters.contains(key) ? .passed : nil
        case .anthropic, .gemini: return .rejected("\(kind.rawValue) has no Responses API")
        }
    }

    /// Every Responses parameter, for "did you mean".
    public static func knownResponsesParameters(_ kind: ProviderKind) -> [String] { openAIResponsesParameters.sorted() }
}
