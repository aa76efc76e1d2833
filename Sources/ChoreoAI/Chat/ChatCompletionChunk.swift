/// One streamed piece of a chat completion, in OpenAI's `chat.completion.chunk` shape whatever
/// provider sent it. `chunk.choices[0].delta.content` is the new text, if any.
///
/// The usage chunk (sent when `stream_options.include_usage` is on) has no choices; use
/// `chunk.choices.first` or `chunk.content` when a stream may carry one.
public struct ChatCompletionChunk: Sendable, Hashable {
    public var id: String
    public var object: String = "chat.completion.chunk"
    public var created: Int
    public var model: String
    public var systemFingerprint: String?
    public var choices: [Choice]
    public var usage: CompletionUsage?
    /// The Responses API's `response` object as its terminal event carried it, verbatim (only on
    /// the last chunk of a `/v1/responses` stream; nil for every other chunk).
    public var response: JSONValue? = nil

    public init(id: String, created: Int, model: String, systemFingerprint: String? = nil, choices: [Choice], usage: CompletionUsage? = nil) {
        self.id = id
        self.created = created
        self.model = model
        self.systemFingerprint = systemFingerprint
        self.choices = choices
        self.usage = usage
    }

    /// The first choice's new text, or `nil` (role-only, finish, usage and empty chunks).
    public var content: String? { choices.first?.delta.content }

    public struct Choice: Sendable, Hashable {
        public var index: Int
        public var delta: Delta
        /// Set on the last chunk of this choice, normalised to OpenAI's values.
        public var finishReason: FinishReason?
        /// The provider's raw value (`stop`, `end_turn`, `MAX_TOKENS`, …), set with `finishReason`.
        public var providerFinishReason: String?
        /// This chunk's `logprobs` object (`{"content": [...], "refusal": ...}`) as the provider sent it.
        public var logprobs: JSONValue?

        public init(index: Int = 0, delta: Delta, finishReason: FinishReason? = nil, providerFinishReason: String? = nil,
                    logprobs: JSONValue? = nil) {
            self.logprobs = logprobs
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
            self.providerFinishReason = providerFinishReason
        }
    }

    public struct Delta: Sendable, Hashable {
        public var role: Role?
        public var content: String?
        public var refusal: String?
        public var toolCalls: [ToolCallDelta]?
        /// Reasoning text, never part of `content`: OpenAI-compatible `reasoning_content` (or
        /// `reasoning`), Anthropic `thinking_delta`, Gemini thought parts.
        public var reasoning: String?
        /// Anthropic's `signature_delta`: the thinking block's signature, needed to continue a
        /// turn with thinking.
        public var reasoningSignature: String?

        public init(role: Role? = nil, content: String? = nil, refusal: String? = nil, toolCalls: [ToolCallDelta]? = nil,
                    reasoning: String? = nil) {
            self.reasoning = reasoning
            self.role = role
            self.content = content
            self.refusal = refusal
            self.toolCalls = toolCalls
        }
    }

    /// A fragment of a tool call. The first fragment of a call carries `id` and the function name;
    /// later ones carry pieces of `arguments`. `index` is the call's position (some servers omit it).
    public struct ToolCallDelta: Sendable, Hashable {
        public var index: Int?
        public var id: String?
        public var type: String?
        public var name: String?
        public var arguments: String?

        public init(index: Int?, id: String? = nil, type: String? = nil, name: String? = nil, arguments: String? = nil) {
            self.index = index
            self.id = id
            self.type = type
            self.name = name
            self.arguments = arguments
        }
    }
}

extension ChatCompletionChunk {
    /// The chunk in OpenAI's wire shape (used by `choreo ask --json`).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "object": .string(object), "created": .int(Int64(created)), "model": .string(model),
            "choices": .array(choices.map { c in
                var d: [String: JSONValue] = [:]
                if let r = c.delta.role { d["role"] = .string(r.rawValue) }
                if let t = c.delta.content { d["content"] = .string(t) }
                if let r = c.delta.refusal { d["refusal"] = .string(r) }
                if let r = c.delta.reasoning { d["reasoning_content"] = .string(r) }
                if let calls = c.delta.toolCalls {
                    d["tool_calls"] = .array(calls.map { t in
                        var o: [String: JSONValue] = [:]
                        if let i = t.index { o["index"] = .int(Int64(i)) }
                        if let id = t.id { o["id"] = .string(id) }
                        if let ty = t.type { o["type"] = .string(ty) }
                        var f: [String: JSONValue] = [:]
                        if let n = t.name { f["name"] = .string(n) }
                        if let a = t.arguments { f["arguments"] = .string(a) }
                        o["function"] = .object(f)
                        return .object(o)
                    })
                }
                return ["index": .int(Int64(c.index)), "delta": .object(d),
                        "finish_reason": c.finishReason.map { .string($0.rawValue) } ?? .null]
            }),
        ]
        if let systemFingerprint { o["system_fingerprint"] = .string(systemFingerprint) }
        o["usage"] = usage?.json ?? .null
        return .object(o)
    }
}
