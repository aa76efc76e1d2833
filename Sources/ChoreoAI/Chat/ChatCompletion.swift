/// A whole chat completion (OpenAI's `chat.completion` object): what a non-streaming `create`
/// returns and what `ChunkAccumulator` rebuilds from a stream.
public struct ChatCompletion: Sendable, Hashable {
    public var id: String
    public var object: String = "chat.completion"
    public var created: Int
    public var model: String
    public var systemFingerprint: String?
    public var choices: [Choice]
    public var usage: CompletionUsage?
    /// For an answer from the Responses API (`/v1/responses`): its own `response` object, verbatim
    /// as the provider sent it (the terminal event's, or the whole body), with everything the
    /// chat shape has no place for (item ids, annotations, encrypted reasoning, echoed settings).
    public var response: JSONValue? = nil

    public init(id: String, created: Int, model: String, systemFingerprint: String? = nil, choices: [Choice], usage: CompletionUsage?) {
        self.id = id
        self.created = created
        self.model = model
        self.systemFingerprint = systemFingerprint
        self.choices = choices
        self.usage = usage
    }

    public struct Choice: Sendable, Hashable {
        public var index: Int
        public var message: Message
        public var finishReason: FinishReason?
        public var providerFinishReason: String?
        /// `{"content": [...], "refusal": ...}`: every chunk's token logprobs, in order; nil when none came.
        public var logprobs: JSONValue? = nil
    }

    public struct Message: Sendable, Hashable {
        public var role: Role = .assistant
        /// `nil` when the model only called tools.
        public var content: String?
        public var refusal: String?
        public var toolCalls: [ToolCall]?
        /// The model's reasoning, kept apart from `content` (sent as `reasoning_content`, as
        /// DeepSeek and vLLM do); nil when the model gave none.
        public var reasoning: String? = nil
        /// Anthropic's signature of the thinking block (`reasoning_signature` in the JSON).
        public var reasoningSignature: String? = nil
    }

    /// The first choice's text ("" when it has none).
    public var text: String { choices.first?.message.content ?? "" }

    /// The object in OpenAI's wire shape (the `body` of a Batch API output line).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "object": .string(object), "created": .int(Int64(created)), "model": .string(model),
            "choices": .array(choices.map { c in
                var m: [String: JSONValue] = [
                    "role": .string(c.message.role.rawValue),
                    "content": c.message.content.map { .string($0) } ?? .null,
                    "refusal": c.message.refusal.map { .string($0) } ?? .null,
                ]
                if let calls = c.message.toolCalls, !calls.isEmpty { m["tool_calls"] = .array(calls.map(\.json)) }
                if let reasoning = c.message.reasoning { m["reasoning_content"] = .string(reasoning) }
                if let signature = c.message.reasoningSignature { m["reasoning_signature"] = .string(signature) }
                return ["index": .int(Int64(c.index)), "message": .object(m), "logprobs": c.logprobs ?? .null,
                        "finish_reason": c.finishReason.map { .string($0.rawValue) } ?? .null]
            }),
            "usage": usage?.json ?? .null,
        ]
        if let systemFingerprint { o["system_fingerprint"] = .string(systemFingerprint) }
        return .object(o)
    }
}
