/// Anthropic Messages (`POST /v1/messages`, wire-formats §6): `event:` + `data:` streams, a
/// trailing assistant message is a prefill, `max_tokens` is required.
struct AnthropicMockResponder: MockResponder {
    /// The Messages API's top-level fields (and `mock`): anything else is a 400, as the API says it.
    static let knownFields: Set<String> = [
        "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences", "stream", "tools",
        "tool_choice", "metadata", "thinking", "output_config", "service_tier", "container", "mcp_servers", "context_management",
        "mock",
    ]

    func conversation(from body: MockJSON, pathModel: String?) throws(MockRejection) -> MockConversation {
        guard case .object(let fields) = body else { throw MockRejection(message: "The request body must be a JSON object.") }
        if let unknown = fields.keys.sorted().first(where: { !Self.knownFields.contains($0) }) {
            throw MockRejection(message: "\(unknown): Extra inputs are not permitted")
        }
        if let metadata = body["metadata"]?.objectValue, let key = metadata.keys.sorted().first(where: { $0 != "user_id" }) {
            throw MockRejection(message: "metadata.\(key): Extra inputs are not permitted")
        }
        guard let maxTokens = body["max_tokens"]?.intValue else { throw MockRejection(message: "max_tokens: Field required") }
        guard var messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            throw MockRejection(message: "messages: Field required")
        }
        let model = body["model"]?.stringValue ?? "mock"
        var prefill: String?
        if messages.last?["role"]?.stringValue == "assistant" {
            // As the API does (wire-formats-2.md §3.2): Claude 4.6 and later take no prefill at
            // all, and no model takes one with extended thinking on.
            if Self.refusesPrefill(model: model) {
                throw MockRejection(message: "This model does not support assistant message prefill. The conversation must end with a user message.")
            }
            if let thinking = body["thinking"], thinking["type"]?.stringValue == "enabled" || thinking["type"]?.stringValue == "adaptive" {
                throw MockRejection(message: "When thinking is enabled, a final assistant message must start with a thinking block.")
            }
            if messages.count > 1 { prefill = MockTranscript.text(ofContent: messages.removeLast()["content"] ?? "") }
        }
        if let system = body["system"] {
            messages.insert(["role": "system", "content": system], at: 0)
        }
        var conversation = MockConversation(
            model: model, messages: messages, prefill: prefill,
            maxTokens: maxTokens, stream: body["stream"]?.boolValue ?? false
        )
        conversation.rejectsTrailingWhitespacePrefill = true
        if let first = body["tools"]?.arrayValue?.first, body["tool_choice"]?["type"]?.stringValue != "none" {
            conversation.toolName = body["tool_choice"]?["name"]?.stringValue ?? first["name"]?.stringValue
        }
        conversation.bodyFault = try MockBodyFault.parse(body)
        return conversation
    }

    /// Claude 4.6 and later by name: `claude-<family>-<major>[-<minor>]` with major.minor ≥ 4.6
    /// (`claude-sonnet-4-6`, `claude-opus-4-8`, `claude-sonnet-5`). Older names put the version
    /// first (`claude-3-5-sonnet-…`) and are all older; a date suffix is not a minor version.
    static func refusesPrefill(model: String) -> Bool {
        let words = model.lowercased().split(separator: "-")
        guard words.count >= 3, words[0] == "claude", Int(words[1]) == nil, let major = Int(words[2]) else { return false }
        let minor = words.count > 3 ? Int(words[3]).flatMap { $0 < 100 ? $0 : nil } ?? 0 : 0
        return major > 4 || (major == 4 && minor >= 6)
    }

    func stream(_ reply: MockReply, for conversation: MockConversation) -> MockStreamPlan {
        var plan = MockStreamPlan()
        func event(_ role: MockStreamPlan.Role, _ type: String, _ data: String) {
            plan.append(role, "event: " + type + "\ndata: " + data + "\n\n")
        }
        var start = message(reply, conversation, content: [])
        start["stop_reason"] = MockJSON.null
        start["usage"]?["output_tokens"] = 1
        event(.prelude, "message_start", (["type": "message_start", "message": start] as MockJSON).text)
        if let call = reply.toolCall {
            let block: MockJSON = ["type": "tool_use", "id": .string(MockFormat.id("toolu_", reply)), "name": .string(call.name), "input": [:]]
            event(.prelude, "content_block_start", (["type": "content_block_start", "index": 0, "content_block": block] as MockJSON).text)
            event(.prelude, "ping", "{\"type\":\"ping\"}")
            event(.prelude, "content_block_delta", Self.delta("input_json_delta", "partial_json", ""))
            for fragment in call.fragments {
                event(.content, "content_block_delta", Self.delta("input_json_delta", "partial_json", fragment))
            }
        } else {
            event(.prelude, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
            event(.prelude, "ping", "{\"type\":\"ping\"}")
            for piece in reply.pieces {
                event(.content, "content_block_delta", Self.delta("text_delta", "text", piece))
            }
        }
        event(.final, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
        let delta: MockJSON = [
            "type": "message_delta",
            "delta": ["stop_reason": .string(Self.stopReason(reply.finish)), "stop_sequence": nil],
            "usage": Self.usage(reply),
        ]
        event(.usage, "message_delta", delta.text)
        event(.final, "message_stop", "{\"type\":\"message_stop\"}")
        return plan
    }

    private static func delta(_ type: String, _ field: String, _ value: String) -> String {
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"" + type + "\",\"" + field + "\":" + MockJSON.quoted(value) + "}}"
    }

    func completion(_ reply: MockReply, for conversation: MockConversation) -> MockJSON {
        let block: MockJSON
        if let call = reply.toolCall {
            block = ["type": "tool_use", "id": .string(MockFormat.id("toolu_", reply)), "name": .string(call.name), "input": call.arguments]
        } else {
            block = ["type": "text", "text": .string(reply.text)]
        }
        return message(reply, conversation, content: [block])
    }

    private func message(_ reply: MockReply, _ conversation: MockConversation, content: [MockJSON]) -> MockJSON {
        [
            "id": .string(MockFormat.id("msg_", reply)), "type": "message", "role": "assistant",
            "model": .string(conversation.model), "content": .array(content),
            "stop_reason": .string(Self.stopReason(reply.finish)), "stop_sequence": nil,
            "usage": Self.usage(reply),
        ]
    }

    /// Anthropic's three input counts are disjoint: `input_tokens` leaves the cached ones out.
    static func usage(_ reply: MockReply) -> MockJSON {
        [
            "input_tokens": .int(reply.promptTokens - reply.cachedPromptTokens),
            "output_tokens": .int(reply.completionTokens),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": .int(reply.cachedPromptTokens),
        ]
    }

    static func stopReason(_ finish: MockReply.Finish) -> String {
        switch finish {
        case .stop: return "end_turn"
        case .length: return "max_tokens"
        case .toolCalls: return "tool_use"
        }
    }

    func error(_ kind: MockFault.Kind, config: MockConfig, requestID: String) -> MockHTTPResponse {
        let headers = commonHeaders(requestID: requestID)
        switch kind {
        case .rateLimit:
            let retry = [
                ("retry-after", MockFormat.retryAfterSeconds(config.retryAfterMs)), ("retry-after-ms", String(config.retryAfterMs)),
                ("anthropic-ratelimit-requests-limit", "4000"), ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:00Z"),
            ]
            return Self.error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit (mock).", requestID: requestID, headers: headers + retry)
        case .quota:
            return Self.error(429, "rate_limit_error", "You have reached your specified workspace API usage limits (mock).",
                              details: ["error_code": "enforced_spend_limit_reached"], requestID: requestID, headers: headers)
        case .overloaded:
            return Self.error(529, "overloaded_error", "Overloaded", requestID: requestID, headers: headers)
        case .serverError, .drop, .stall, .malformed, .cutAfterUsage:
            return Self.error(500, "api_error", "Internal server error (mock).", requestID: requestID, headers: headers)
        }
    }

    func rejection(_ rejection: MockRejection, requestID: String) -> MockHTTPResponse {
        Self.error(400, "invalid_request_error", rejection.message, requestID: requestID, headers: commonHeaders(requestID: requestID))
    }

    private static func error(_ status: Int, _ type: String, _ message: String, details: MockJSON? = nil,
                              requestID: String, headers: [(String, String)]) -> MockHTTPResponse {
        var error: MockJSON = ["type": .string(type), "message": .string(message)]
        if let details { error["details"] = details }
        return MockHTTPResponse(status: status, headers: headers, json: ["type": "error", "error": error, "request_id": .string(requestID)])
    }

    func commonHeaders(requestID: String) -> [(String, String)] { [("request-id", requestID)] }
}
