/// The role of a message's author.
public struct Role: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }
    public static let system: Role = "system"
    public static let developer: Role = "developer"
    public static let user: Role = "user"
    public static let assistant: Role = "assistant"
    public static let tool: Role = "tool"
}

/// One message of a conversation, in OpenAI's shape. Content is text or a list of parts
/// (kept as JSON, so images and other part types pass through untouched).
public struct ChatMessage: Sendable, Hashable {
    public var role: Role
    public var content: JSONValue
    public var name: String?
    public var toolCalls: [ToolCall]?
    public var toolCallID: String?

    public init(role: Role, content: String, name: String? = nil) {
        self.role = role
        self.content = .string(content)
        self.name = name
    }

    public init(role: Role, parts: [JSONValue]) {
        self.role = role
        self.content = .array(parts)
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: .assistant, content: text) }
    /// An assistant turn that called tools (to send back with the tools' results).
    public static func assistant(toolCalls: [ToolCall]) -> ChatMessage {
        var m = ChatMessage(role: .assistant, content: "")
        m.content = .null
        m.toolCalls = toolCalls
        return m
    }
    /// The result of a tool call.
    public static func tool(callID: String, content: String) -> ChatMessage {
        var m = ChatMessage(role: .tool, content: content)
        m.toolCallID = callID
        return m
    }

    /// The text of the content: the string, or the text parts joined.
    public var text: String {
        switch content {
        case .string(let s): return s
        case .array(let parts): return parts.compactMap { $0["text"]?.stringValue }.joined()
        default: return ""
        }
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["role": .string(role.rawValue), "content": content]
        if let name { o["name"] = .string(name) }
        if let toolCalls { o["tool_calls"] = .array(toolCalls.map(\.json)) }
        if let toolCallID { o["tool_call_id"] = .string(toolCallID) }
        return .object(o)
    }

    /// Reads an OpenAI-shaped message object; `nil` when it has no string role.
    public init?(json: JSONValue) {
        guard let role = json["role"]?.stringValue else { return nil }
        self.role = Role(rawValue: role)
        self.content = json["content"] ?? .null
        self.name = json["name"]?.stringValue
        self.toolCalls = json["tool_calls"]?.arrayValue?.compactMap(ToolCall.init(json:))
        self.toolCallID = json["tool_call_id"]?.stringValue
    }
}

/// A complete tool call: what the model asked to run, with its arguments as a JSON string.
public struct ToolCall: Sendable, Hashable {
    public var id: String
    public var type: String
    public var function: FunctionCall

    public struct FunctionCall: Sendable, Hashable {
        public var name: String
        /// The arguments as the model wrote them: usually a JSON object, but never guaranteed valid.
        public var arguments: String
        public init(name: String, arguments: String) { self.name = name; self.arguments = arguments }
    }

    public init(id: String, type: String = "function", function: FunctionCall) {
        self.id = id
        self.type = type
        self.function = function
    }

    public var json: JSONValue {
        ["id": .string(id), "type": .string(type),
         "function": ["name": .string(function.name), "arguments": .string(function.arguments)]]
    }

    public init?(json: JSONValue) {
        guard let f = json["function"] else { return nil }
        self.id = json["id"]?.stringValue ?? ""
        self.type = json["type"]?.stringValue ?? "function"
        self.function = FunctionCall(name: f["name"]?.stringValue ?? "", arguments: f["arguments"]?.stringValue ?? "")
    }
}

/// Token counts. Cumulative: the last value a stream reports wins.
///
/// The details are parts of the two totals, as providers bill them (wire-formats-2.md §4):
/// `cachedPromptTokens` and `cacheWriteTokens` are within `promptTokens` (read from and written to
/// the provider's prompt cache, each billed at its own rate), `reasoningTokens` within
/// `completionTokens` (billed as output). Named as in OpenAI's API (`CompletionUsage`), not
/// `Usage`, which clashes with users' own types.
public struct CompletionUsage: Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    /// Of `promptTokens`, read from the prompt cache (OpenAI `prompt_tokens_details.cached_tokens`,
    /// Anthropic `cache_read_input_tokens`, Gemini `cachedContentTokenCount`).
    public var cachedPromptTokens: Int
    /// Of `promptTokens`, written to the prompt cache (Anthropic `cache_creation_input_tokens`,
    /// OpenAI `prompt_tokens_details.cache_write_tokens`).
    public var cacheWriteTokens: Int
    /// Of `completionTokens`, spent reasoning (OpenAI `completion_tokens_details.reasoning_tokens`,
    /// Gemini `thoughtsTokenCount`, Anthropic `output_tokens_details.thinking_tokens`).
    public var reasoningTokens: Int

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil,
                cachedPromptTokens: Int = 0, cacheWriteTokens: Int = 0, reasoningTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? promptTokens + completionTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.reasoningTokens = reasoningTokens
    }

    /// OpenAI's `usage` object (and DeepSeek's `prompt_cache_hit_tokens`, §4.5).
    public init?(json: JSONValue?) {
        guard let json, case .object = json else { return nil }
        let p = json["prompt_tokens"]?.intValue ?? 0
        let c = json["completion_tokens"]?.intValue ?? 0
        let prompt = json["prompt_tokens_details"], completion = json["completion_tokens_details"]
        self.init(promptTokens: p, completionTokens: c, totalTokens: json["total_tokens"]?.intValue,
                  cachedPromptTokens: prompt?["cached_tokens"]?.intValue ?? json["prompt_cache_hit_tokens"]?.intValue ?? 0,
                  cacheWriteTokens: prompt?["cache_write_tokens"]?.intValue ?? 0,
                  reasoningTokens: completion?["reasoning_tokens"]?.intValue ?? 0)
    }

    /// OpenAI's shape; the details objects only when a detail is not zero.
    public var json: JSONValue {
        var o: JSONValue = ["prompt_tokens": .int(Int64(promptTokens)), "completion_tokens": .int(Int64(completionTokens)),
                            "total_tokens": .int(Int64(totalTokens))]
        if cachedPromptTokens > 0 || cacheWriteTokens > 0 {
            var details: JSONValue = ["cached_tokens": .int(Int64(cachedPromptTokens))]
            if cacheWriteTokens > 0 { details["cache_write_tokens"] = .int(Int64(cacheWriteTokens)) }
            o["prompt_tokens_details"] = details
        }
        if reasoningTokens > 0 { o["completion_tokens_details"] = ["reasoning_tokens": .int(Int64(reasoningTokens))] }
        return o
    }

    public static func + (a: CompletionUsage, b: CompletionUsage) -> CompletionUsage {
        CompletionUsage(promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
              totalTokens: a.totalTokens + b.totalTokens, cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens,
              cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens, reasoningTokens: a.reasoningTokens + b.reasoningTokens)
    }
}
