/// The Responses API's `response` object (wire-formats-2 §1.5) rebuilt from an answer accumulated
/// as a chat completion: what the Batch API writes as the `body` of a `/v1/responses` output line
/// (§1.7), as `ChatCompletion.json` is a chat line's. Used when the provider's own object is not at
/// hand (`ChatCompletion.response`: a stream whose terminal event carried none, a row without one).
///
/// - `output`: a `reasoning` item with the reasoning summary (when the model gave one), a
///   `message` item with the text (`output_text`) and any refusal, then one `function_call` item
///   per tool call, in order;
/// - `status`: `completed`, or `incomplete` with `incomplete_details.reason` for an answer stopped
///   by its token cap (`max_output_tokens`) or a content filter;
/// - `usage` in the Responses names (`input_tokens`, `output_tokens`, their details);
/// - the request's settings the object echoes (`instructions`, `tools`, `tool_choice`,
///   `parallel_tool_calls`, `max_output_tokens`, `temperature`, `top_p`, `metadata`, …), from the
///   request body as it was submitted.
public enum ResponseObject {
    /// The request settings a `response` object repeats, and their defaults when the request
    /// did not set them (nil: `null`).
    static let echoed: [(key: String, absent: JSONValue)] = [
        ("instructions", .null), ("max_output_tokens", .null), ("metadata", [:]), ("parallel_tool_calls", true),
        ("previous_response_id", .null), ("reasoning", .null), ("temperature", .null), ("text", .null),
        ("tool_choice", "auto"), ("tools", []), ("top_p", .null), ("truncation", .null), ("user", .null),
    ]

    /// The object for `completion` (its first choice), answered to `request` (a Responses body).
    /// `completion.text` is the whole answer: the runner sets it to the kept text and what followed.
    public static func make(_ completion: ChatCompletion, request: JSONValue) -> JSONValue {
        let choice = completion.choices.first
        return make(id: completion.id, created: completion.created, model: completion.model, text: choice?.message.content,
                    refusal: choice?.message.refusal, toolCalls: choice?.message.toolCalls ?? [], reasoning: choice?.message.reasoning,
                    finishReason: choice?.finishReason, usage: completion.usage, request: request)
    }

    /// The object for an answer given by its parts (an export rebuilds one from a job's columns).
    public static func make(id: String, created: Int, model: String, text: String?, refusal: String? = nil, toolCalls calls: [ToolCall],
                            reasoning: String?, finishReason: FinishReason?, usage: CompletionUsage?, request: JSONValue) -> JSONValue {
        let id = id.isEmpty ? "resp_choreo" : id
        let suffix = id.hasPrefix("resp_") ? String(id.dropFirst(5)) : id
        var output: [JSONValue] = []
        if let reasoning, !reasoning.isEmpty {
            output.append(["id": .string("rs_" + suffix), "type": "reasoning",
                           "summary": [["type": "summary_text", "text": .string(reasoning)]]])
        }
        var parts: [JSONValue] = []
        if let text, !text.isEmpty || calls.isEmpty {
            parts.append(["type": "output_text", "text": .string(text), "annotations": []])
        }
        if let refusal { parts.append(["type": "refusal", "refusal": .string(refusal)]) }
        if !parts.isEmpty {
            output.append(["id": .string("msg_" + suffix), "type": "message", "status": "completed", "role": "assistant",
                           "content": .array(parts)])
        }
        for (n, call) in calls.enumerated() {
            output.append(["id": .string("fc_\(suffix)_\(n)"), "type": "function_call", "status": "completed",
                           "call_id": .string(call.id), "name": .string(call.function.name), "arguments": .string(call.function.arguments)])
        }
        var incomplete: JSONValue = .null
        switch finishReason {
        case .length?: incomplete = ["reason": "max_output_tokens"]
        case .contentFilter?: incomplete = ["reason": "content_filter"]
        default: break
        }
        var o: [String: JSONValue] = [
            "id": .string(id), "object": "response", "created_at": .int(Int64(created)),
            "status": incomplete.isNull ? "completed" : "incomplete", "error": .null, "incomplete_details": incomplete,
            "model": .string(model.isEmpty ? request["model"]?.stringValue ?? "" : model),
            "output": .array(output), "usage": usage.map(Self.usage) ?? .null,
        ]
        for (key, absent) in echoed { o[key] = request[key].flatMap { $0.isNull ? nil : $0 } ?? absent }
        return .object(o)
    }

    /// `usage` in the Responses API's names, with both details objects (the SDK requires them).
    static func usage(_ u: CompletionUsage) -> JSONValue {
        ["input_tokens": .int(Int64(u.promptTokens)),
         "input_tokens_details": ["cached_tokens": .int(Int64(u.cachedPromptTokens)), "cache_write_tokens": .int(Int64(u.cacheWriteTokens))],
         "output_tokens": .int(Int64(u.completionTokens)),
         "output_tokens_details": ["reasoning_tokens": .int(Int64(u.reasoningTokens))],
         "total_tokens": .int(Int64(u.totalTokens))]
    }
}
