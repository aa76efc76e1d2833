/// What each wire format does with each chat-completions body parameter: passes it on, maps it
/// to the provider's own field, or cannot honour it. `choreo submit` refuses a line with a
/// parameter its provider does not know or cannot take, so nothing is dropped silently at run
/// time; docs/providers.md is this table in prose.
///
/// `extra_body` is the escape hatch (as in the OpenAI SDKs): an object merged as is into the
/// request the provider receives, for parameters newer than this table.
public enum ParameterSupport {
    public enum Handling: Sendable, Hashable {
        /// Sent under the same name.
        case passed
        /// Sent as the provider's own field (named here).
        case mapped(String)
        /// The provider cannot honour it; the reason says what to do instead.
        case rejected(String)
    }

    /// OpenAI Chat Completions parameters (platform.openai.com API reference, 2026).
    static let openAIParameters: Set<String> = [
        "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
        "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
        "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs",
        "top_p", "user", "verbosity", "web_search_options", "extra_body",
    ]
    /// What OpenAI-compatible servers (vLLM, llama.cpp, SGLang) add and Choreo itself uses.
    static let compatibleParameters: Set<String> = [
        "top_k", "min_p", "repetition_penalty", "continue_final_message", "add_generation_prompt", "chat_template_kwargs", "echo",
    ]

    /// How `kind` handles `key` with `value`; nil when the provider does not know the parameter.
    public static func handling(_ key: String, _ value: JSONValue, kind: ProviderKind) -> Handling? {
        // `mock` steers Choreo's mock provider (faults on demand, `choreo mock --help`); a real
        // provider answers it with a 400, which names it.
        if key == "extra_body" || key == "mock" { return .passed }
        switch kind {
        case .openAI:
            return openAIParameters.contains(key) || compatibleParameters.contains(key) ? .passed : nil
        case .anthropic:
            return anthropic(key, value)
        case .gemini:
            return gemini(key, value)
        }
    }

    /// Every parameter `kind` knows, for "did you mean".
    public static func knownParameters(_ kind: ProviderKind) -> [String] {
        var names = openAIParameters.union(compatibleParameters)
        switch kind {
        case .openAI: break
        case .anthropic: names.formUnion(["thinking", "system", "stop_sequences", "output_config", "top_k"])
        case .gemini: names.formUnion(["generationConfig", "safetySettings", "cachedContent", "toolConfig", "labels"])
        }
        return names.sorted()
    }

    private static func anthropic(_ key: String, _ value: JSONValue) -> Handling? {
        switch key {
        case "model", "messages", "max_tokens", "temperature", "top_p", "top_k", "stream", "tools", "thinking", "system",
             "stop_sequences", "output_config", "service_tier":
            return .passed
        case "stream_options": return .mapped("usage is always streamed")
        case "max_completion_tokens": return .mapped("max_tokens")
        case "stop": return .mapped("stop_sequences")
        case "tool_choice", "parallel_tool_calls": return .mapped("tool_choice")
        case "user": return .mapped("metadata.user_id")
        case "metadata": return .mapped("kept by Choreo; only metadata.user_id is sent")
        case "response_format":
            switch value["type"]?.stringValue {
            case "json_schema" where value["json_schema"]?["schema"]?.objectValue != nil: return .mapped("output_config.format")
            case "text": return .mapped("(the default)")
            default:
                return .rejected("Anthropic takes a JSON schema only: use {\"type\":\"json_schema\",\"json_schema\":{\"schema\":{…}}}")
            }
        case "n":
            return value.intValue == 1 ? .mapped("(one choice is the default)") : .rejected("Anthropic returns one choice per request; submit n lines instead")
        case "logprobs":
            return value.boolValue == false ? .mapped("(off is the default)") : .rejected("Anthropic does not return log probabilities")
        case "seed": return .rejected("Anthropic has no seed; remove it")
        case "store": return value.boolValue == false ? .mapped("(Anthropic stores nothing)") : .rejected("Anthropic has no stored completions")
        case "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty", "modalities", "audio", "prediction",
             "web_search_options", "functions", "function_call", "reasoning_effort", "verbosity", "prompt_cache_key",
             "safety_identifier":
            return .rejected("Anthropic has no \(key); remove it (or pass a native parameter in extra_body)")
        default:
            return nil
        }
    }

    private static func gemini(_ key: String, _ value: JSONValue) -> Handling? {
        switch key {
        case "model", "messages", "stream": return .passed
        case "generationConfig", "safetySettings", "cachedContent", "toolConfig", "labels": return .passed
        case "stream_options": return .mapped("usage is always streamed")
        case "max_tokens", "max_completion_tokens": return .mapped("generationConfig.maxOutputTokens")
        case "temperature": return .mapped("generationConfig.temperature")
        case "top_p": return .mapped("generationConfig.topP")
        case "top_k": return .mapped("generationConfig.topK")
        case "stop": return .mapped("generationConfig.stopSequences")
        case "seed": return .mapped("generationConfig.seed")
        case "n": return .mapped("generationConfig.candidateCount")
        case "presence_penalty": return .mapped("generationConfig.presencePenalty")
        case "frequency_penalty": return .mapped("generationConfig.frequencyPenalty")
        case "response_format": return .mapped("generationConfig.responseMimeType / responseJsonSchema")
        case "tools": return .mapped("tools.functionDeclarations")
        case "tool_choice": return .mapped("toolConfig.functionCallingConfig")
        case "metadata": return .mapped("kept by Choreo; not sent")
        case "parallel_tool_calls": return .mapped("(Gemini decides)")
        case "user", "store", "service_tier":
            return value.boolValue == false ? .mapped("(nothing to send)") : .rejected("Gemini has no \(key); remove it")
        case "logprobs", "top_logprobs", "logit_bias", "modalities", "audio", "prediction", "web_search_options", "functions",
             "function_call", "reasoning_effort", "verbosity", "prompt_cache_key", "safety_identifier":
            return .rejected("Gemini's mapping has no \(key); remove it (or pass a native field in extra_body)")
        default:
            return nil
        }
    }

    /// `o` with the members of `extra_body` merged in (they win) and `extra_body` itself removed.
    static func mergingExtraBody(_ o: inout [String: JSONValue], from input: [String: JSONValue]) {
        o["extra_body"] = nil
        for (k, v) in input["extra_body"]?.objectValue ?? [:] { o[k] = v }
    }
}
