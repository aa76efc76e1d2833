import ChoreoAI

/// One line of an OpenAI Batch API output/error file (wire-formats §5.2), for one job.
///
/// - succeeded: `response = {status_code, request_id, body: <chat.completion>}`, `error = null`;
///   the body is the stored `response` JSON, or is rebuilt from the columns when it is missing.
///   A `/v1/responses` job's body is a `response` object (`ResponseObject`), stored the same way.
///   An embeddings job's body is the embeddings response (`{"object":"list","data":[{"object":
///   "embedding","index":0,"embedding":[…]}],"model":…,"usage":{…}}`), its vectors from
///   `jobs.embedding`, as floats or as base64 when the request asked for `encoding_format: "base64"`.
/// - failed with a non-2xx HTTP status: `response = {status_code, request_id, body: {"error": {…}}}`,
///   `error = null` (the failure is in the status code, as OpenAI does it); the body is the
///   provider's own error object (`error_body`), not Choreo's classification.
/// - `request_id` is the provider's (`x-request-id`, `request-id`), else `choreo-<job id>-<attempt>`.
/// - anything else (failed without an HTTP error, cancelled, not finished): `response = null`,
///   `error = {code, message}` with code `batch_cancelled`, `batch_expired`, the job's
///   `error_kind`, or `batch_incomplete` for a job that has not finished yet.
enum OpenAIBatchLine {
    static func write(_ r: ExportRecord, to out: inout String) {
        out += #"{"id":"batch_req_"#
        out += String(r.id)
        out += #"","custom_id":"#
        JSONValue.writeString(r.customID, to: &out)
        out += #","response":"#
        if r.state == "succeeded" {
            writeResponseHead(status: r.httpStatus ?? 200, requestID: requestID(r), to: &out)
            if r.endpoint == .embeddings {
                writeEmbeddingsBody(r, to: &out)
            } else if let response = r.response, !response.isEmpty {
                // The stored object was written by Choreo as compact JSON, so it is spliced as is
                // rather than parsed and printed again (the hot path of a large export).
                out += response
            } else {
                out += (r.endpoint == .responses ? rebuiltResponse(r) : rebuiltBody(r)).jsonString
            }
            out += #"},"error":null}"#
        } else if r.state == "failed", let status = r.httpStatus, !(200..<300).contains(status) {
            // The provider's own error object, as the Batch API gives it; Choreo's reading of it
            // (error_kind, error_message) is in the jsonl and csv exports.
            writeResponseHead(status: status, requestID: requestID(r), to: &out)
            if let body = r.errorBody, !body.isEmpty {
                out += body
            } else {
                let error: JSONValue = ["error": ["message": .string(r.errorMessage ?? "HTTP \(status)"), "type": .null, "param": .null, "code": .null]]
                out += error.jsonString
            }
            out += #"},"error":null}"#
        } else {
            let (code, message) = errorCodeAndMessage(r)
            out += #"null,"error":{"code":"#
            JSONValue.writeString(code, to: &out)
            out += #","message":"#
            JSONValue.writeString(message, to: &out)
            out += "}}"
        }
        out += "\n"
    }

    private static func writeResponseHead(status: Int, requestID: String, to out: inout String) {
        out += #"{"status_code":"#
        out += String(status)
        out += #","request_id":"#
        JSONValue.writeString(requestID, to: &out)
        out += #","body":"#
    }

    /// The provider's request id, else `choreo-<job id>-<attempt>`: the Batch format types it as
    /// a string, and a strict reader refuses `null`.
    static func requestID(_ r: ExportRecord) -> String {
        if let id = r.requestID, !id.isEmpty { return id }
        return "choreo-\(r.id)-\(max(r.attempts, 1))"
    }

    static func errorCodeAndMessage(_ r: ExportRecord) -> (String, String) {
        switch (r.state, r.errorKind) {
        case ("cancelled", _):
            return ("batch_cancelled", r.errorMessage ?? "The request was cancelled before it completed.")
        case (_, "expired"?):
            return ("batch_expired", r.errorMessage ?? "This request could not be executed before the deadline.")
        case ("failed", let kind):
            return (kind ?? "failed", r.errorMessage ?? "The request failed.")
        default:
            return ("batch_incomplete", "The request has not finished yet (state: \(r.state)); export again when the batch is done.")
        }
    }

    /// An embeddings job's response body: the model and usage of the stored `response` (the
    /// provider's model and the job's share of the usage), else of the job's columns, and one
    /// `data` item per vector, in input order.
    static func writeEmbeddingsBody(_ r: ExportRecord, to out: inout String) {
        let stored = r.response.flatMap { try? JSONValue.parse($0) }
        out += #"{"object":"list","data":["#
        if let e = r.embedding {
            for i in 0..<e.count {
                if i > 0 { out += "," }
                out += #"{"object":"embedding","index":"# + String(i) + #","embedding":"#
                if r.embeddingsBase64 {
                    JSONValue.writeString(Embeddings.base64(e.vector(i)), to: &out)
                } else {
                    Embeddings.writeJSONArray(e.vector(i), to: &out)
                }
                out += "}"
            }
        }
        out += #"],"model":"#
        JSONValue.writeString(stored?["model"]?.stringValue ?? r.model, to: &out)
        if let usage = stored?["usage"], !usage.isNull {
            out += #","usage":"# + usage.jsonString
        } else if stored == nil, let p = r.promptTokens {
            out += #","usage":{"prompt_tokens":"# + String(p) + #","total_tokens":"# + String(p) + "}"
        }
        out += "}"
    }

    /// A `/v1/responses` job's `response` object made from its columns, for rows without a stored one.
    static func rebuiltResponse(_ r: ExportRecord) -> JSONValue {
        let calls = r.toolCalls.flatMap { try? JSONValue.parse($0) }?.arrayValue?.compactMap(ToolCall.init(json:)) ?? []
        let usage = r.promptTokens.flatMap { p in r.completionTokens.map { c in
            CompletionUsage(promptTokens: p, completionTokens: c, totalTokens: r.totalTokens, cachedPromptTokens: r.cachedPromptTokens ?? 0,
                            cacheWriteTokens: r.cacheWriteTokens ?? 0, reasoningTokens: r.reasoningTokens ?? 0)
        } }
        return ResponseObject.make(id: "resp_choreo_\(r.id)", created: Int(r.finishedAt ?? r.createdAt), model: r.model, text: r.output,
                                   toolCalls: calls, reasoning: r.reasoning, finishReason: r.finishReason.map(FinishReason.init(rawValue:)),
                                   usage: usage, request: [:])
    }

    /// A `chat.completion` object made from the job's columns, for rows without a stored one.
    static func rebuiltBody(_ r: ExportRecord) -> JSONValue {
        let calls = r.toolCalls.flatMap { try? JSONValue.parse($0) }.flatMap { $0.arrayValue }.flatMap { $0.isEmpty ? nil : $0 }
        var message: [String: JSONValue] = ["role": "assistant", "refusal": .null]
        if let output = r.output, !output.isEmpty || calls == nil { message["content"] = .string(output) } else if calls != nil { message["content"] = .null } else { message["content"] = "" }
        if let calls { message["tool_calls"] = .array(calls) }
        var usage: JSONValue = .null
        if let p = r.promptTokens, let c = r.completionTokens {
            usage = ["prompt_tokens": .int(Int64(p)), "completion_tokens": .int(Int64(c)), "total_tokens": .int(Int64(r.totalTokens ?? p + c))]
        }
        return [
            "id": .string("chatcmpl-choreo-\(r.id)"),
            "object": "chat.completion",
            "created": .int(Int64(r.finishedAt ?? r.createdAt)),
            "model": .string(r.model),
            "choices": [[
                "index": 0,
                "message": .object(message),
                "logprobs": .null,
                "finish_reason": r.finishReason.map { .string($0) } ?? .null,
            ]],
            "usage": usage,
        ]
    }
}
