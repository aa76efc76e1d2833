/// OpenAI's Responses API (`POST /v1/responses`, wire-formats-2 §1): the request read as the API
/// reads it (`input` as a string or items, `instructions` as the system prompt, flat function
/// tools), and the reply spelled as api.openai.com streams it: `response.created`,
/// `.in_progress`, the output item and content part opening, one `response.output_text.delta` (or
/// `response.function_call_arguments.delta`) per piece, the `.done` events, then the terminal
/// `response.completed` (or `response.incomplete` at the token cap) carrying the usage, and no
/// `[DONE]`, as recorded streams end. The reply is the one chat would give the same conversation.
struct OpenAIResponsesMockResponder: MockResponder {
    let created: Int

    /// The Responses create parameters (platform.openai.com API reference, 2026), and `mock`. The
    /// mock's own list, not ChoreoAI's (see `OpenAIMockResponder.knownParameters`).
    static let knownParameters: Set<String> = [
        "model", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
        "previous_response_id", "conversation", "prompt", "prompt_cache_key", "prompt_cache_retention", "reasoning", "include",
        "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
        "top_logprobs", "top_p", "truncation", "user", "background",
        "mock",
    ]
    static let roles = ["assistant", "system", "developer", "user"]
    /// The request settings a `response` object repeats, with what api.openai.com shows when the
    /// request did not set them.
    static let echoedDefaults: [(String, MockJSON)] = [
        ("instructions", nil), ("max_output_tokens", nil), ("metadata", .object([:])), ("parallel_tool_calls", true),
        ("previous_response_id", nil), ("reasoning", ["effort": nil, "summary": nil]), ("store", true), ("temperature", 1),
        ("text", ["format": ["type": "text"]]), ("tool_choice", "auto"), ("tools", []), ("top_p", 1), ("truncation", "disabled"),
        ("user", nil),
    ]
    /// The API's smallest `max_output_tokens`.
    static let minOutputTokens = 16

    func conversation(from body: MockJSON, pathModel: String?) throws(MockRejection) -> MockConversation {
        guard case .object(let fields) = body else { throw MockRejection(message: "The request body must be a JSON object.") }
        if let unknown = fields.keys.sorted().first(where: { !Self.knownParameters.contains($0) }) {
            throw MockRejection(message: "Unknown parameter: '\(unknown)'.")
        }
        guard let model = body["model"]?.stringValue else { throw MockRejection(message: "Missing required parameter: 'model'.") }
        var messages: [MockJSON] = []
        if let instructions = body["instructions"], instructions != .null {
            guard let text = instructions.stringValue else {
                throw MockRejection(message: "Invalid type for 'instructions': expected a string, but got \(Self.typeName(instructions)) instead.")
            }
            messages.append(["role": "system", "content": .string(text)])
        }
        switch body["input"] {
        case .string(let text)?:
            messages.append(["role": "user", "content": .string(text)])
        case .array(let items)?:
            guard !items.isEmpty else { throw MockRejection(message: "Invalid 'input': empty array. Expected an array with minimum length 1.") }
            for (i, item) in items.enumerated() { messages.append(try Self.message(item, at: i)) }
        case nil:
            throw MockRejection(message: "Missing required parameter: 'input'.")
        case let other?:
            throw MockRejection(message: "Invalid type for 'input': expected a string or an array of input items, but got \(Self.typeName(other)) instead.")
        }
        var maxTokens: Int?
        if let m = body["max_output_tokens"], m != .null {
            guard let n = m.intValue else {
                throw MockRejection(message: "Invalid type for 'max_output_tokens': expected an integer, but got \(Self.typeName(m)) instead.")
            }
            guard n >= Self.minOutputTokens else {
                throw MockRejection(message: "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= \(Self.minOutputTokens), but got \(n) instead.")
            }
            maxTokens = n
        }
        let tools = body["tools"]?.arrayValue ?? []
        for (i, tool) in tools.enumerated() where tool["type"]?.stringValue == "function" && tool["name"]?.stringValue == nil {
            throw MockRejection(message: "Missing required parameter: 'tools[\(i)].name'.")
        }
        var conversation = MockConversation(model: model, messages: messages, maxTokens: maxTokens,
                                            stream: body["stream"]?.boolValue ?? false, includeUsage: true)
        conversation.includeObfuscation = body["stream_options"]?["include_obfuscation"]?.boolValue ?? true
        let choice = body["tool_choice"]
        if choice?.stringValue != "none", let first = tools.first(where: { $0["type"]?.stringValue == "function" }) {
            conversation.toolName = choice?["name"]?.stringValue ?? first["name"]?.stringValue
        }
        conversation.bodyFault = try MockBodyFault.parse(body)
        for (key, _) in Self.echoedDefaults { if let v = body[key], v != .null { conversation.responsesSettings[key] = v } }
        return conversation
    }

    /// An `input` item as a chat message: a message item as it is (its parts' `text` are read by
    /// the transcript), a function call's output as a tool message, other items by their type.
    private static func message(_ item: MockJSON, at i: Int) throws(MockRejection) -> MockJSON {
        guard case .object = item else { throw MockRejection(message: "Invalid type for 'input[\(i)]': expected an object, but got \(typeName(item)) instead.") }
        let type = item["type"]?.stringValue ?? "message"
        switch type {
        case "message":
            guard let role = item["role"]?.stringValue else { throw MockRejection(message: "Missing required parameter: 'input[\(i)].role'.") }
            guard roles.contains(role) else {
                throw MockRejection(message: "Invalid value: '\(role)'. Supported values are: 'assistant', 'system', 'developer', and 'user'.")
            }
            guard let content = item["content"] else { throw MockRejection(message: "Missing required parameter: 'input[\(i)].content'.") }
            return ["role": .string(role), "content": content]
        case "function_call_output":
            return ["role": "tool", "content": item["output"] ?? ""]
        case "function_call":
            return ["role": "assistant", "content": .string((item["name"]?.stringValue ?? "") + " " + (item["arguments"]?.stringValue ?? ""))]
        default:
            return ["role": "user", "content": .string(type)]
        }
    }

    private static func typeName(_ v: MockJSON) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    func stream(_ reply: MockReply, for conversation: MockConversation) -> MockStreamPlan {
        var plan = MockStreamPlan()
        plan.malformed = "event: response.output_text.delta\ndata: {\"type\": broken\n\n"
        var sequence = 0
        func event(_ type: String, _ fields: MockJSON, padded: String? = nil) -> String {
            var data = fields
            data["type"] = .string(type)
            data["sequence_number"] = .int(sequence)
            if let padded, conversation.includeObfuscation { data["obfuscation"] = .string(OpenAIMockResponder.obfuscation(for: padded)) }
            sequence += 1
            return "event: " + type + "\ndata: " + data.text + "\n\n"
        }
        let inProgress = response(reply, for: conversation, status: "in_progress", output: [], usage: nil)
        plan.append(.prelude, event("response.created", ["response": inProgress]))
        plan.append(.prelude, event("response.in_progress", ["response": inProgress]))
        let item = outputItem(reply, done: false)
        let itemID = item["id"] ?? ""
        plan.append(.prelude, event("response.output_item.added", ["output_index": 0, "item": item]))
        if let call = reply.toolCall {
            for fragment in call.fragments {
                plan.append(.content, event("response.function_call_arguments.delta",
                                            ["item_id": itemID, "output_index": 0, "delta": .string(fragment)], padded: fragment))
            }
            plan.append(.final, event("response.function_call_arguments.done",
                                      ["item_id": itemID, "output_index": 0, "arguments": .string(call.argumentsText)]))
        } else {
            let part: MockJSON = ["type": "output_text", "text": "", "annotations": []]
            plan.append(.prelude, event("response.content_part.added", ["item_id": itemID, "output_index": 0, "content_index": 0, "part": part]))
            for piece in reply.pieces {
                plan.append(.content, event("response.output_text.delta",
                                            ["item_id": itemID, "output_index": 0, "content_index": 0, "delta": .string(piece), "logprobs": []],
                                            padded: piece))
            }
            plan.append(.final, event("response.output_text.done",
                                      ["item_id": itemID, "output_index": 0, "content_index": 0, "text": .string(reply.text), "logprobs": []]))
            plan.append(.final, event("response.content_part.done", ["item_id": itemID, "output_index": 0, "content_index": 0,
                                                                     "part": ["type": "output_text", "text": .string(reply.text), "annotations": []]]))
        }
        plan.append(.final, event("response.output_item.done", ["output_index": 0, "item": outputItem(reply, done: true)]))
        let done = completion(reply, for: conversation)
        plan.append(.usage, event(done["status"]?.stringValue == "incomplete" ? "response.incomplete" : "response.completed", ["response": done]))
        return plan
    }

    /// The one output item: a message with the text, or the function call.
    private func outputItem(_ reply: MockReply, done: Bool) -> MockJSON {
        let status: MockJSON = done ? "completed" : "in_progress"
        if let call = reply.toolCall {
            return ["id": .string(MockFormat.id("fc_", reply)), "type": "function_call", "status": status,
                    "call_id": .string(MockFormat.id("call_", reply)), "name": .string(call.name),
                    "arguments": done ? .string(call.argumentsText) : ""]
        }
        return ["id": .string(MockFormat.id("msg_", reply)), "type": "message", "status": status, "role": "assistant",
                "content": done ? [["type": "output_text", "text": .string(reply.text), "annotations": []]] : []]
    }

    func completion(_ reply: MockReply, for conversation: MockConversation) -> MockJSON {
        response(reply, for: conversation, status: reply.finish == .length ? "incomplete" : "completed",
                 output: [outputItem(reply, done: true)], usage: usage(reply))
    }

    private func response(_ reply: MockReply, for conversation: MockConversation, status: String, output: [MockJSON], usage: MockJSON?) -> MockJSON {
        var response: MockJSON = [
            "id": .string(MockFormat.id("resp_", reply)), "object": "response", "created_at": .int(created), "status": .string(status),
            "error": nil, "incomplete_details": status == "incomplete" ? ["reason": "max_output_tokens"] : nil,
            "model": .string(conversation.model), "output": .array(output), "usage": usage ?? nil,
            "service_tier": "default", "background": false,
        ]
        for (key, absent) in Self.echoedDefaults { response[key] = conversation.responsesSettings[key] ?? absent }
        return response
    }

    func usage(_ reply: MockReply) -> MockJSON {
        [
            "input_tokens": .int(reply.promptTokens),
            "input_tokens_details": ["cached_tokens": .int(reply.cachedPromptTokens), "cache_write_tokens": 0],
            "output_tokens": .int(reply.completionTokens),
            "output_tokens_details": ["reasoning_tokens": .int(reply.reasoningTokens)],
            "total_tokens": .int(reply.promptTokens + reply.completionTokens),
        ]
    }

    func error(_ kind: MockFault.Kind, config: MockConfig, requestID: String) -> MockHTTPResponse {
        OpenAIMockResponder(created: created).error(kind, config: config, requestID: requestID)
    }

    func rejection(_ rejection: MockRejection, requestID: String) -> MockHTTPResponse {
        OpenAIMockResponder(created: created).rejection(rejection, requestID: requestID)
    }

    func commonHeaders(requestID: String) -> [(String, String)] { OpenAIMockResponder(created: created).commonHeaders(requestID: requestID) }
}
