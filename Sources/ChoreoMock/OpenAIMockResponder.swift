/// OpenAI Chat Completions (`POST /v1/chat/completions`, wire-formats §2–§4), also the dialect of
/// vLLM and llama.cpp for continuation (`continue_final_message`).
struct OpenAIMockResponder: MockResponder {
    /// `created` for every response of this process: plausible, and fixed within a run.
    let created: Int

    /// The Chat Completions parameters (platform.openai.com API reference, 2026), what the
    /// OpenAI-compatible servers (vLLM, llama.cpp, SGLang) add, and `mock`. The mock keeps its own
    /// list rather than ChoreoAI's, so a parameter the client wrongly thinks is known shows up here.
    static let knownParameters: Set<String> = [
        "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
        "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
        "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs",
        "top_p", "user", "verbosity", "web_search_options", "extra_body",
        "top_k", "min_p", "repetition_penalty", "continue_final_message", "add_generation_prompt", "chat_template_kwargs", "echo",
        "mock",
    ]

    func conversation(from body: MockJSON, pathModel: String?) throws(MockRejection) -> MockConversation {
        guard case .object(let fields) = body else { throw MockRejection(message: "The request body must be a JSON object.") }
        // As api.openai.com does: a parameter it does not know is a 400, so a rehearsal catches a typo.
        if let unknown = fields.keys.sorted().first(where: { !Self.knownParameters.contains($0) }) {
            throw MockRejection(message: "Unrecognized request argument supplied: \(unknown)")
        }
        guard var messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            throw MockRejection(message: "Missing required parameter: 'messages'.")
        }
        var prefill: String?
        if body["continue_final_message"]?.boolValue == true, messages.last?["role"]?.stringValue == "assistant" {
            if body["add_generation_prompt"]?.boolValue == true {
                throw MockRejection(message: "continue_final_message and add_generation_prompt cannot both be true.")
            }
            prefill = MockTranscript.text(of: messages.removeLast())
        }
        var conversation = MockConversation(
            model: body["model"]?.stringValue ?? "mock",
            messages: messages,
            prefill: prefill,
            maxTokens: (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue,
            stream: body["stream"]?.boolValue ?? false,
            includeUsage: body["stream_options"]?["include_usage"]?.boolValue ?? false
        )
        conversation.includeObfuscation = body["stream_options"]?["include_obfuscation"]?.boolValue ?? true
        conversation.toolName = Self.toolName(tools: body["tools"], choice: body["tool_choice"])
        conversation.bodyFault = try MockBodyFault.parse(body)
        return conversation
    }

    /// The tool to call: the one `tool_choice` names, else the first; none when `tool_choice` is "none".
    static func toolName(tools: MockJSON?, choice: MockJSON?) -> String? {
        guard let first = tools?.arrayValue?.first, choice?.stringValue != "none" else { return nil }
        return choice?["function"]?["name"]?.stringValue ?? first["function"]?["name"]?.stringValue ?? first["name"]?.stringValue
    }

    func stream(_ reply: MockReply, for conversation: MockConversation) -> MockStreamPlan {
        let usageField = conversation.includeUsage ? ",\"usage\":null}" : "}"
        let head = "data: {\"id\":\(MockJSON.quoted(MockFormat.id("chatcmpl-", reply))),\"object\":\"chat.completion.chunk\","
            + "\"created\":\(created),\"model\":\(MockJSON.quoted(conversation.model)),\"service_tier\":\"default\","
            + "\"system_fingerprint\":\"fp_mock\","
        func chunk(_ delta: String, finish: String = "null") -> String {
            head + "\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]"
                + (conversation.includeObfuscation ? ",\"obfuscation\":\"" + Self.obfuscation(for: delta) + "\"" : "") + usageField + "\n\n"
        }
        var plan = MockStreamPlan()
        plan.append(.prelude, chunk("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}"))
        if let call = reply.toolCall {
            let opening: MockJSON = [
                "index": 0, "id": .string(MockFormat.id("call_", reply)), "type": "function",
                "function": ["name": .string(call.name), "arguments": ""],
            ]
            plan.append(.prelude, chunk("{\"tool_calls\":[\(opening.text)]}"))
            for fragment in call.fragments {
                plan.append(.content, chunk("{\"tool_calls\":[{\"function\":{\"arguments\":\(MockJSON.quoted(fragment))},\"index\":0}]}"))
            }
        } else {
            for piece in reply.pieces {
                plan.append(.content, chunk("{\"content\":" + MockJSON.quoted(piece) + "}"))
            }
        }
        plan.append(.final, chunk("{}", finish: "\"" + reply.finish.rawValue + "\""))
        if conversation.includeUsage {
            plan.append(.usage, head + "\"choices\":[],\"usage\":" + usage(reply).text + "}\n\n")
        }
        plan.append(.final, "data: [DONE]\n\n")
        return plan
    }

    /// Padding that brings a chunk's delta to a multiple of 16 bytes, as api.openai.com's
    /// `obfuscation` normalises chunk sizes (wire-formats-2 §5.3); deterministic, like the replies.
    static func obfuscation(for delta: String) -> String {
        let alphabet = Array("p9K3xT6wQm2Lz8Vb")
        return String(alphabet.prefix(16 - delta.utf8.count % 16))
    }

    func completion(_ reply: MockReply, for conversation: MockConversation) -> MockJSON {
        var message: MockJSON = ["role": "assistant", "content": .string(reply.text), "refusal": nil, "annotations": []]
        if let call = reply.toolCall {
            message["content"] = MockJSON.null
            message["tool_calls"] = [
                ["id": .string(MockFormat.id("call_", reply)), "type": "function",
                 "function": ["name": .string(call.name), "arguments": .string(call.argumentsText)]]
            ]
        }
        return [
            "id": .string(MockFormat.id("chatcmpl-", reply)), "object": "chat.completion", "created": .int(created),
            "model": .string(conversation.model), "system_fingerprint": "fp_mock", "service_tier": "default",
            "choices": [["index": 0, "message": message, "logprobs": nil, "finish_reason": .string(reply.finish.rawValue)]],
            "usage": usage(reply),
        ]
    }

    func usage(_ reply: MockReply) -> MockJSON {
        [
            "prompt_tokens": .int(reply.promptTokens), "completion_tokens": .int(reply.completionTokens),
            "total_tokens": .int(reply.promptTokens + reply.completionTokens),
            "prompt_tokens_details": ["cached_tokens": .int(reply.cachedPromptTokens), "audio_tokens": 0],
            "completion_tokens_details": ["reasoning_tokens": .int(reply.reasoningTokens), "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0],
        ]
    }

    func error(_ kind: MockFault.Kind, config: MockConfig, requestID: String) -> MockHTTPResponse {
        let headers = commonHeaders(requestID: requestID, remaining: 0)
        switch kind {
        case .rateLimit:
            let retry = [("retry-after-ms", String(config.retryAfterMs)), ("retry-after", MockFormat.retryAfterSeconds(config.retryAfterMs))]
            return Self.error(429, "Rate limit reached for requests (mock). Please try again in \(config.retryAfterMs)ms.",
                              type: "rate_limit_error", code: "rate_limit_exceeded", headers: headers + retry)
        case .quota:
            return Self.error(429, "You exceeded your current quota, please check your plan and billing details (mock).",
                              type: "insufficient_quota", code: "insufficient_quota", headers: headers)
        case .overloaded:
            return Self.error(503, "The engine is currently overloaded, please try again later (mock).",
                              type: "server_error", code: "overloaded", headers: headers)
        case .serverError, .drop, .stall, .malformed, .cutAfterUsage:
            return Self.error(500, "The server had an error while processing your request (mock).", type: "server_error", code: nil, headers: headers)
        }
    }

    func rejection(_ rejection: MockRejection, requestID: String) -> MockHTTPResponse {
        Self.error(400, rejection.message, type: "invalid_request_error", code: nil, headers: commonHeaders(requestID: requestID))
    }

    static func error(_ status: Int, _ message: String, type: String, code: String?, headers: [(String, String)]) -> MockHTTPResponse {
        let body: MockJSON = ["error": ["message": .string(message), "type": .string(type), "param": nil, "code": code.map(MockJSON.string) ?? .null]]
        return MockHTTPResponse(status: status, headers: headers, json: body)
    }

    func commonHeaders(requestID: String) -> [(String, String)] { commonHeaders(requestID: requestID, remaining: 4999) }

    private func commonHeaders(requestID: String, remaining: Int) -> [(String, String)] {
        [
            ("x-request-id", requestID),
            ("x-ratelimit-limit-requests", "5000"), ("x-ratelimit-remaining-requests", String(remaining)),
            ("x-ratelimit-reset-requests", remaining > 0 ? "12ms" : "1s"),
            ("x-ratelimit-limit-tokens", "160000"), ("x-ratelimit-remaining-tokens", remaining > 0 ? "159000" : "0"),
            ("x-ratelimit-reset-tokens", remaining > 0 ? "375ms" : "6m0s"),
        ]
    }

    /// `GET /v1/models`.
    func models() -> MockJSON {
        let ids = ["mock-gpt", "mock-claude", "mock-gemini"]
        return ["object": "list", "data": .array(ids.map { ["id": .string($0), "object": "model", "created": .int(created), "owned_by": "choreo-mock"] })]
    }
}
