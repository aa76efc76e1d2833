/// Gemini `generateContent` / `streamGenerateContent` (wire-formats §7): CRLF-separated SSE with
/// `alt=sse` (a JSON array without it), a few tokens per chunk, no terminator, whole
/// `functionCall` parts. No prefill: a trailing `model` turn is just conversation.
struct GeminiMockResponder: MockResponder {
    /// Tokens per streamed chunk.
    static let tokensPerChunk = 3
    /// Whether the stream is SSE (`alt=sse`) or one JSON array.
    var sse = true

    /// `GenerateContentRequest`'s fields (and `mock`).
    static let knownFields: Set<String> = [
        "contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig", "cachedContent", "labels", "mock",
    ]

    func conversation(from body: MockJSON, pathModel: String?) throws(MockRejection) -> MockConversation {
        guard case .object(let fields) = body else { throw MockRejection(message: "Invalid JSON payload received. Expected an object.") }
        // As the API does: an unknown field is a 400 INVALID_ARGUMENT.
        if let unknown = fields.keys.sorted().first(where: { !Self.knownFields.contains($0) }) {
            throw MockRejection(message: "Invalid JSON payload received. Unknown name \"\(unknown)\": Cannot find field.")
        }
        guard var messages = body["contents"]?.arrayValue, !messages.isEmpty else {
            throw MockRejection(message: "* GenerateContentRequest.contents: contents is not specified")
        }
        if let system = body["systemInstruction"] {
            messages.insert(["role": "system", "parts": system["parts"] ?? []], at: 0)
        }
        var conversation = MockConversation(
            model: pathModel ?? "mock", messages: messages, prefill: nil,
            maxTokens: body["generationConfig"]?["maxOutputTokens"]?.intValue, stream: false
        )
        let declarations = body["tools"]?.arrayValue?.compactMap { $0["functionDeclarations"]?.arrayValue?.first }
        if let first = declarations?.first, body["toolConfig"]?["functionCallingConfig"]?["mode"]?.stringValue != "NONE" {
            conversation.toolName = first["name"]?.stringValue
        }
        return conversation
    }

    func stream(_ reply: MockReply, for conversation: MockConversation) -> MockStreamPlan {
        var plan = MockStreamPlan()
        plan.closeAfter = true
        var chunks: [MockJSON] = []
        if let call = reply.toolCall {
            chunks.append(response([["functionCall": ["name": .string(call.name), "args": call.arguments]]], reply, conversation, finished: true, tokens: reply.completionTokens - reply.reasoningTokens))
        } else {
            var start = 0
            repeat {
                let end = min(reply.pieces.count, start + Self.tokensPerChunk)
                let text = reply.pieces[start..<end].joined()
                chunks.append(response([["text": .string(text)]], reply, conversation, finished: end == reply.pieces.count, tokens: end))
                start = end
            } while start < reply.pieces.count
        }
        for (i, chunk) in chunks.enumerated() {
            let last = i == chunks.count - 1
            let text: String
            if sse {
                text = "data: " + chunk.text + "\r\n\r\n"
            } else {
                text = (i == 0 ? "[" : ",\r\n") + chunk.text + (last ? "]" : "")
            }
            plan.append(last ? .final : .content, text)
        }
        if sse {
            plan.malformed = "data: {\"id\": broken\r\n\r\n"
        } else {
            plan.contentType = "application/json"
            plan.malformed = ",\r\n{\"id\": broken"
        }
        return plan
    }

    func completion(_ reply: MockReply, for conversation: MockConversation) -> MockJSON {
        let part: MockJSON
        if let call = reply.toolCall {
            part = ["functionCall": ["name": .string(call.name), "args": call.arguments]]
        } else {
            part = ["text": .string(reply.text)]
        }
        return response([part], reply, conversation, finished: true, tokens: reply.completionTokens - reply.reasoningTokens)
    }

    /// One `GenerateContentResponse`; `tokens` is the cumulative candidate token count.
    private func response(_ parts: [MockJSON], _ reply: MockReply, _ conversation: MockConversation, finished: Bool, tokens: Int) -> MockJSON {
        var candidate: MockJSON = ["content": ["parts": .array(parts), "role": "model"], "index": 0]
        if finished { candidate["finishReason"] = .string(reply.finish == .length ? "MAX_TOKENS" : "STOP") }
        return [
            "candidates": [candidate],
            "usageMetadata": [
                "promptTokenCount": .int(reply.promptTokens), "candidatesTokenCount": .int(tokens),
                "cachedContentTokenCount": .int(reply.cachedPromptTokens), "thoughtsTokenCount": .int(reply.reasoningTokens),
                "totalTokenCount": .int(reply.promptTokens + tokens + reply.reasoningTokens),
            ],
            "modelVersion": .string(conversation.model),
            "responseId": .string(MockFormat.id("r-", reply)),
        ]
    }

    func error(_ kind: MockFault.Kind, config: MockConfig, requestID: String) -> MockHTTPResponse {
        switch kind {
        case .rateLimit:
            let retry: MockJSON = ["@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": .string("\(Double(config.retryAfterMs) / 1000)s")]
            return Self.error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota) (mock).", details: [retry],
                              headers: [("retry-after", MockFormat.retryAfterSeconds(config.retryAfterMs))])
        case .quota:
            let failure: MockJSON = [
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [["quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"]],
            ]
            return Self.error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details (mock).", details: [failure])
        case .overloaded:
            return Self.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later (mock).")
        case .serverError, .drop, .stall, .malformed, .cutAfterUsage:
            return Self.error(500, "INTERNAL", "An internal error has occurred (mock).")
        }
    }

    func rejection(_ rejection: MockRejection, requestID: String) -> MockHTTPResponse {
        Self.error(400, "INVALID_ARGUMENT", rejection.message)
    }

    private static func error(_ code: Int, _ status: String, _ message: String, details: [MockJSON] = [], headers: [(String, String)] = []) -> MockHTTPResponse {
        var error: MockJSON = ["code": .int(code), "message": .string(message), "status": .string(status)]
        if !details.isEmpty { error["details"] = .array(details) }
        return MockHTTPResponse(status: code, headers: headers, json: ["error": error])
    }

    func commonHeaders(requestID: String) -> [(String, String)] { [] }
}
