/// A tool the model may call (`ChatTool`, not `Tool`: that name is every app's own).
public struct ChatTool: Sendable, Hashable {
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments.
    public var parameters: JSONValue

    public static func function(name: String, description: String? = nil, parameters: JSONValue = ["type": "object", "properties": [:]]) -> ChatTool {
        ChatTool(name: name, description: description, parameters: parameters)
    }

    public var json: JSONValue {
        var f: [String: JSONValue] = ["name": .string(name), "parameters": parameters]
        if let description { f["description"] = .string(description) }
        return ["type": "function", "function": .object(f)]
    }
}

/// Builds an OpenAI chat completions body from typed parameters. Fields left nil are not sent;
/// `extra` passes any other field through unchanged.
public enum ChatRequest {
    public static func body(
        model: String, messages: [ChatMessage], temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil,
        maxCompletionTokens: Int? = nil, stop: [String]? = nil, seed: Int? = nil, tools: [ChatTool]? = nil, toolChoice: JSONValue? = nil,
        responseFormat: JSONValue? = nil, includeUsage: Bool = false, extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var o = extra
        o["model"] = .string(model)
        o["messages"] = .array(messages.map(\.json))
        if let temperature { o["temperature"] = .double(temperature) }
        if let topP { o["top_p"] = .double(topP) }
        if let maxTokens { o["max_tokens"] = .int(Int64(maxTokens)) }
        if let maxCompletionTokens { o["max_completion_tokens"] = .int(Int64(maxCompletionTokens)) }
        if let stop { o["stop"] = .array(stop.map { .string($0) }) }
        if let seed { o["seed"] = .int(Int64(seed)) }
        if let tools { o["tools"] = .array(tools.map(\.json)) }
        if let toolChoice { o["tool_choice"] = toolChoice }
        if let responseFormat { o["response_format"] = responseFormat }
        o["stream_options"] = ["include_usage": .bool(includeUsage)]
        return .object(o)
    }
}
