import ChoreoHTTP

/// OpenAI's Responses API (`POST /v1/responses`, wire-formats-2 §1), from the Responses body a
/// `/v1/responses` job line carries (`model`, `input`, `instructions`, `max_output_tokens`,
/// `tools`, …, sent as they are). The stream is decoded into chat chunks
/// (`ResponsesEventDecoder`), so a Responses job is streamed, kept and retried as a chat job is.
///
/// OpenAI-compatible providers only: Anthropic and Gemini have no Responses endpoint, and
/// `choreo submit` refuses such a line. There is no continuation: an assistant message in
/// `input` is an earlier turn, not a prefix the model goes on from, so a cut answer restarts.
public struct OpenAIResponsesWire: WireFormat {
    public init() {}

    public func makeRequest(_ body: JSONValue, provider: Provider, stream: Bool) throws -> HTTPRequest {
        guard case .object(var o) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        ParameterSupport.mergingExtraBody(&o, from: o)
        o["stream"] = .bool(stream)
        // The Responses API's stream_options has only include_obfuscation; usage always comes in
        // the terminal event (§1.1).
        if !stream { o["stream_options"] = nil }
        var headers = baseHeaders(provider, stream: stream)
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "authorization", value: "Bearer \(key)") }
        return provider.post(path: "/responses", headers: headers, body: .object(o))
    }

    public func makeDecoder() -> any ChunkDecoder { ResponsesEventDecoder() }

    /// A whole `response` object (`stream: false`): the text of its `output_text` parts, its
    /// function calls, its status and usage.
    public func decodeCompletion(_ body: [UInt8]) throws -> ChatCompletion {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw WireError.malformed("\(error)") }
        if json["object"]?.stringValue != "response", let error = WireError.inBand(json, fallback: "unknown error") { throw error }
        if json["status"]?.stringValue == "failed" {
            throw WireError.provider(json["error"], typeKeys: ["code", "type"], fallback: "the response failed")
        }
        guard let output = json["output"]?.arrayValue else { throw WireError.malformed("no output in the response") }
        var text: String?
        var refusal: String?
        var calls: [ToolCall] = []
        for item in output {
            switch item["type"]?.stringValue {
            case "message":
                for part in item["content"]?.arrayValue ?? [] {
                    if let t = part["text"]?.stringValue, part["type"]?.stringValue == "output_text" { text = (text ?? "") + t }
                    if let r = part["refusal"]?.stringValue { refusal = (refusal ?? "") + r }
                }
            case "function_call":
                calls.append(ToolCall(id: item["call_id"]?.stringValue ?? "", function: .init(
                    name: item["name"]?.stringValue ?? "", arguments: item["arguments"]?.stringValue ?? "")))
            default:
                break
            }
        }
        let status = json["status"]?.stringValue ?? "completed"
        let reason = json["incomplete_details"]?["reason"]?.stringValue
        let finish: FinishReason = status == "incomplete" ? (reason == "content_filter" ? .contentFilter : .length)
                                                          : (calls.isEmpty ? .stop : .toolCalls)
        var completion = ChatCompletion(
            id: json["id"]?.stringValue ?? "", created: ResponsesEventDecoder.createdAt(json) ?? 0, model: json["model"]?.stringValue ?? "",
            choices: [.init(index: 0, message: .init(content: text ?? (calls.isEmpty ? "" : nil), refusal: refusal,
                                                     toolCalls: calls.isEmpty ? nil : calls),
                            finishReason: finish, providerFinishReason: reason ?? status)],
            usage: ResponsesEventDecoder.usage(json["usage"]))
        completion.response = json
        return completion
    }

    public func decodeError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError {
        genericError(status: status, headers: headers, body: body, provider: provider)
    }

    /// None: the Responses API takes no prefill (see the type's comment); the runner restarts.
    public func continuation(of body: JSONValue, partial: String) -> (body: JSONValue, sentPrefill: String)? { nil }
}
