/// Decodes a Responses API event stream (wire-formats-2 §1.2–§1.6) into the chunks every other
/// stream gives, so that the accumulator, the partial flusher and the runner treat it as chat:
///
/// - `response.created` / `.in_progress` / `.queued`: the response's id, model and time;
/// - `response.output_text.delta`: content; `response.refusal.delta`: a refusal;
/// - `response.output_item.added` with a `function_call` item opens a tool call (its `call_id`
///   and `name`), `response.function_call_arguments.delta` appends to it, addressed by
///   `output_index`;
/// - `response.reasoning_summary_text.delta` / `response.reasoning_text.delta`: reasoning, never text;
/// - `response.completed` / `.incomplete`: the terminal event, with the finish reason, the usage
///   (the only place a Responses stream reports it) and the `response` object itself, verbatim
///   (`ChatCompletion.response`: the canonical record, wire-formats-2 §1.3);
/// - `response.failed` and `error`: the provider's error, which ends the stream. `error` comes in
///   two shapes: documented flat (`{"type":"error","code","message"}`) and, from api.openai.com,
///   nested (`{"type":"error","error":{"type","code","message"}}`): both are read (§1.6).
///
/// Every other event type is ignored, as the SDK's union has dozens for built-in tools. A
/// recorded stream ends at its terminal event with no `[DONE]`; one that sends it is fine too.
struct ResponsesEventDecoder: ChunkDecoder {
    private(set) var isComplete = false
    private var id = ""
    private var model = ""
    private var created = 0
    /// The tool-call index of each function call, by its `output_index`.
    private var toolIndex: [Int: Int] = [:]

    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        let data = event.data
        if data.isEmpty || Self.isDone(data) { return }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch {
            throw WireError.malformed("\(error) in \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        guard json.objectValue != nil else {
            throw WireError.malformed("not a Responses event: \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        // Dispatch on `data.type`, which repeats the `event:` name (§1.2).
        switch json["type"]?.stringValue ?? event.type {
        case "response.created", "response.in_progress", "response.queued":
            note(json["response"])
            emit(chunk(delta: .init(role: .assistant)))
        case "response.output_text.delta":
            guard let text = json["delta"]?.stringValue, !text.isEmpty else { return }
            emit(chunk(delta: .init(content: text)))
        case "response.refusal.delta":
            guard let text = json["delta"]?.stringValue, !text.isEmpty else { return }
            emit(chunk(delta: .init(refusal: text)))
        case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
            guard let text = json["delta"]?.stringValue, !text.isEmpty else { return }
            emit(chunk(delta: .init(reasoning: text)))
        case "response.output_item.added":
            guard let item = json["item"], item["type"]?.stringValue == "function_call" else { return }
            let index = slot(json["output_index"]?.intValue)
            let arguments = item["arguments"]?.stringValue ?? ""
            emit(chunk(delta: .init(toolCalls: [.init(index: index, id: item["call_id"]?.stringValue, type: "function",
                                                      name: item["name"]?.stringValue ?? "", arguments: arguments)])))
        case "response.function_call_arguments.delta":
            guard let text = json["delta"]?.stringValue, !text.isEmpty else { return }
            let index = slot(json["output_index"]?.intValue)
            emit(chunk(delta: .init(toolCalls: [.init(index: index, arguments: text)])))
        case "response.completed", "response.incomplete":
            let response = json["response"]
            note(response)
            let raw: String
            let finish: FinishReason
            if json["type"]?.stringValue == "response.incomplete" {
                raw = response?["incomplete_details"]?["reason"]?.stringValue ?? "incomplete"
                // §1.5: everything but content_filter is a length stop.
                finish = raw == "content_filter" ? .contentFilter : .length
            } else {
                raw = "completed"
                finish = toolIndex.isEmpty ? .stop : .toolCalls
            }
            isComplete = true
            var last = chunk(delta: .init(), finish: finish, raw: raw)
            last.usage = Self.usage(response?["usage"])
            last.response = response.flatMap { $0.objectValue == nil ? nil : $0 }
            emit(last)
        case "response.failed":
            let error = json["response"]?["error"]
            throw WireError.providerError(type: error?["code"]?.stringValue ?? error?["type"]?.stringValue,
                                          message: error?["message"]?.stringValue ?? "the response failed")
        case "error":
            // Flat (documented) or nested (observed): `code = data.code ?? data.error.code`, and so on.
            let nested = json["error"]
            func field(_ key: String) -> String? { json[key]?.stringValue ?? nested?[key]?.stringValue }
            throw WireError.providerError(type: field("code") ?? field("type").flatMap { $0 == "error" ? nil : $0 },
                                          message: field("message") ?? "error in stream")
        default:
            return
        }
    }

    /// Records the response's id, model and creation time (the first of each seen wins).
    private mutating func note(_ response: JSONValue?) {
        guard let response else { return }
        if id.isEmpty, let s = response["id"]?.stringValue { id = s }
        if model.isEmpty, let s = response["model"]?.stringValue { model = s }
        if created == 0, let seconds = Self.createdAt(response) { created = seconds }
    }

    /// A response's `created_at` in whole seconds; nil when there is none, or no Int holds it
    /// (1e300 from a broken or hostile server is left out, not a trap).
    static func createdAt(_ response: JSONValue) -> Int? {
        response["created_at"]?.doubleValue.flatMap { Int(exactly: $0.rounded(.towardZero)) }
    }

    /// The tool-call index of the function call at `outputIndex`, opening one when it is new.
    private mutating func slot(_ outputIndex: Int?) -> Int {
        let key = outputIndex ?? -1
        if let index = toolIndex[key] { return index }
        let index = toolIndex.count
        toolIndex[key] = index
        return index
    }

    private func chunk(delta: ChatCompletionChunk.Delta, finish: FinishReason? = nil, raw: String? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(id: id, created: created, model: model,
                            choices: [.init(index: 0, delta: delta, finishReason: finish, providerFinishReason: raw)])
    }

    /// A Responses `usage` (`input_tokens`, `output_tokens` and their details, §4.2) as chat usage.
    static func usage(_ json: JSONValue?) -> CompletionUsage? {
        guard let json, json.objectValue != nil else { return nil }
        let input = json["input_tokens_details"], output = json["output_tokens_details"]
        return CompletionUsage(promptTokens: json["input_tokens"]?.intValue ?? 0, completionTokens: json["output_tokens"]?.intValue ?? 0,
                               totalTokens: json["total_tokens"]?.intValue,
                               cachedPromptTokens: input?["cached_tokens"]?.intValue ?? 0,
                               cacheWriteTokens: input?["cache_write_tokens"]?.intValue ?? 0,
                               reasoningTokens: output?["reasoning_tokens"]?.intValue ?? 0)
    }

    private static func isDone(_ data: [UInt8]) -> Bool {
        data.withUnsafeBytes { OpenAIChunkDecoder.isDone($0) }
    }
}
