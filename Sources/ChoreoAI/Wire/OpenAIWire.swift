import ChoreoHTTP

/// OpenAI Chat Completions and the servers that copy it (vLLM, llama.cpp, Ollama `/v1`,
/// OpenRouter, Groq, …). wire-formats.md §2.
public struct OpenAIWire: WireFormat {
    public init() {}

    public func makeRequest(_ body: JSONValue, provider: Provider, stream: Bool) throws -> HTTPRequest {
        guard case .object(var o) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        ParameterSupport.mergingExtraBody(&o, from: o)
        o["stream"] = .bool(stream)
        if stream {
            var options = o["stream_options"]?.objectValue ?? [:]
            if options["include_usage"] == nil { options["include_usage"] = .bool(true) }
            o["stream_options"] = .object(options)
        } else {
            o["stream_options"] = nil
        }
        var headers = baseHeaders(provider, stream: stream)
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "authorization", value: "Bearer \(key)") }
        return provider.post(path: "/chat/completions", headers: headers, body: .object(o))
    }

    public func makeDecoder() -> any ChunkDecoder { OpenAIChunkDecoder() }

    public func decodeCompletion(_ body: [UInt8]) throws -> ChatCompletion {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw WireError.malformed("\(error)") }
        if let error = WireError.inBand(json, fallback: "unknown error") { throw error }
        guard let choices = json["choices"]?.arrayValue else { throw WireError.malformed("no choices in the completion") }
        return ChatCompletion(
            id: json["id"]?.stringValue ?? "", created: json["created"]?.intValue ?? 0, model: json["model"]?.stringValue ?? "",
            systemFingerprint: json["system_fingerprint"]?.stringValue,
            choices: choices.map { c in
                let m = c["message"]
                let raw = c["finish_reason"]?.stringValue
                return ChatCompletion.Choice(
                    index: c["index"]?.intValue ?? 0,
                    message: .init(content: m?["content"]?.stringValue, refusal: m?["refusal"]?.stringValue,
                                   toolCalls: m?["tool_calls"]?.arrayValue?.compactMap(ToolCall.init(json:))),
                    finishReason: raw.map(FinishReasonMap.openAI), providerFinishReason: raw,
                    logprobs: presentValue(c["logprobs"]))
            },
            usage: CompletionUsage(json: json["usage"]))
    }

    public func decodeError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError {
        genericError(status: status, headers: headers, body: body, provider: provider)
    }

    /// vLLM and llama.cpp continue a trailing assistant message with `continue_final_message`.
    public func continuation(of body: JSONValue, partial: String) -> (body: JSONValue, sentPrefill: String)? {
        guard case .object(var o) = body, var messages = o["messages"]?.arrayValue else { return nil }
        let prefill = Continuation.prefill(for: partial)
        guard !prefill.isEmpty else { return nil }
        messages.append(["role": "assistant", "content": .string(prefill)])
        o["messages"] = .array(messages)
        o["continue_final_message"] = true
        o["add_generation_prompt"] = false
        o["echo"] = false
        return (.object(o), prefill)
    }
}

/// Decodes `data:` payloads of `chat.completion.chunk` objects; `[DONE]` ends the stream.
/// Common chunks take the byte scanner (`OpenAIChunkScanner`); the rest the full JSON parser.
struct OpenAIChunkDecoder: ChunkDecoder {
    private(set) var isComplete = false
    private var scanner = OpenAIChunkScanner()

    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        try event.data.withUnsafeBytes { try decode(data: $0, emit: emit) }
    }

    // The protocol's lent-event calls: the stream calls the `data:` ones directly (no existential).
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void) throws { try decode(data: view.data, emit: emit) }
    mutating func decode(view: SSEEventView, into acc: inout ChunkAccumulator) throws { try decode(data: view.data, into: &acc) }

    /// Decodes one event's data, borrowed from the SSE parser.
    mutating func decode(data: UnsafeRawBufferPointer, emit: (ChatCompletionChunk) -> Void) throws {
        if Self.isDone(data) { isComplete = true; return }
        if let chunk = scanner.scan(data) { emit(chunk); return }
        try Self.decodeFull(data, emit: emit)
    }

    /// Push mode: folds one event's chunk straight into `acc`. A chunk that is the scanner's
    /// template with new content is folded in without being built.
    mutating func decode(data: UnsafeRawBufferPointer, into acc: inout ChunkAccumulator) throws {
        if Self.isDone(data) { isComplete = true; return }
        if scanner.withTemplateMatch(data, { chunk, content in acc.add(chunk, firstContent: content) }) { return }
        if let chunk = scanner.scanWithoutTemplate(data) { acc.add(chunk); return }
        try Self.decodeFull(data) { acc.add($0) }
    }

    /// The full parser: every shape, and the error messages.
    static func decodeFull(_ data: UnsafeRawBufferPointer, emit: (ChatCompletionChunk) -> Void) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch {
            throw WireError.malformed("\(error) in \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        if let error = WireError.inBand(json, typeKeys: ["type", "code"], fallback: "error in stream", flat: true) { throw error }
        guard let chunk = Self.chunk(json) else {
            throw WireError.malformed("not a chat.completion.chunk: \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        emit(chunk)
    }

    static func isDone(_ data: UnsafeRawBufferPointer) -> Bool {
        var s = 0, e = data.count
        while s < e, data[s] == 0x20 || data[s] == 0x0A || data[s] == 0x0D || data[s] == 0x09 { s += 1 }
        while e > s, data[e - 1] == 0x20 || data[e - 1] == 0x0A || data[e - 1] == 0x0D || data[e - 1] == 0x09 { e -= 1 }
        return e - s == 6 && UnsafeRawBufferPointer(rebasing: data[s..<e]).elementsEqual("[DONE]".utf8)
    }

    static func chunk(_ json: JSONValue) -> ChatCompletionChunk? {
        guard case .object(let o) = json else { return nil }
        let choices = o["choices"]?.arrayValue ?? []
        return ChatCompletionChunk(
            id: o["id"]?.stringValue ?? "", created: o["created"]?.intValue ?? 0, model: o["model"]?.stringValue ?? "",
            systemFingerprint: o["system_fingerprint"]?.stringValue,
            choices: choices.map { c in
                let d = c["delta"]
                let raw = c["finish_reason"]?.stringValue
                return ChatCompletionChunk.Choice(
                    index: c["index"]?.intValue ?? 0,
                    delta: .init(role: d?["role"]?.stringValue.map(Role.init(rawValue:)), content: d?["content"]?.stringValue,
                                 refusal: d?["refusal"]?.stringValue,
                                 toolCalls: d?["tool_calls"]?.arrayValue?.map { t in
                                     ChatCompletionChunk.ToolCallDelta(
                                        index: t["index"]?.intValue, id: t["id"]?.stringValue, type: t["type"]?.stringValue,
                                        name: t["function"]?["name"]?.stringValue, arguments: t["function"]?["arguments"]?.stringValue)
                                 },
                                 reasoning: d?["reasoning_content"]?.stringValue ?? d?["reasoning"]?.stringValue),
                    finishReason: raw.map(FinishReasonMap.openAI), providerFinishReason: raw,
                    logprobs: presentValue(c["logprobs"]))
            },
            usage: CompletionUsage(json: o["usage"]))
    }
}

/// `value` unless it is absent or JSON `null` (a bare `nil` in a `JSONValue` context would become
/// `JSONValue.null`, which is nil-literal expressible).
private func presentValue(_ value: JSONValue?) -> JSONValue? {
    guard let value, !value.isNull else { return Optional.none }
    return value
}
