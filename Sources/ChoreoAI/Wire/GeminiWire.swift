import ChoreoHTTP
import Foundation

/// Google Gemini `generateContent` / `streamGenerateContent?alt=sse`, spoken from an OpenAI-shaped
/// chat body. wire-formats.md §7.
///
/// Request mapping: `system`/`developer` messages become `systemInstruction`; `assistant` turns
/// become `model` turns with `functionCall` parts for their tool calls; runs of `tool` messages
/// become one `user` turn of `functionResponse` parts (the function name is looked up from the
/// call's id); sampling fields move into `generationConfig`. Gemini-native top-level fields
/// (`safetySettings`, `cachedContent`, a `generationConfig` object, …) pass through, and a
/// `generationConfig` given in the body wins over the mapped values.
public struct GeminiWire: WireFormat {
    /// OpenAI fields that are mapped into the Gemini body or have no Gemini meaning.
    static let consumedFields: Set<String> = [
        "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
        "stop", "seed", "response_format", "n", "presence_penalty", "frequency_penalty", "tools", "tool_choice",
        "parallel_tool_calls", "logprobs", "top_logprobs", "logit_bias", "user", "store", "metadata", "service_tier",
        "modalities", "prediction", "audio", "reasoning_effort", "web_search_options", "continue_final_message",
        "add_generation_prompt", "echo", "functions", "function_call", "extra_body",
    ]

    public init() {}

    public func makeRequest(_ body: JSONValue, provider: Provider, stream: Bool) throws -> HTTPRequest {
        guard case .object(let input) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        guard var model = input["model"]?.stringValue, !model.isEmpty else { throw WireError.invalidRequest("the body has no model") }
        if model.hasPrefix("models/") { model.removeFirst(7) }
        var o = input.filter { !Self.consumedFields.contains($0.key) }
        let (system, contents) = try Self.contents(input["messages"]?.arrayValue ?? [])
        if let system { o["systemInstruction"] = system }
        o["contents"] = .array(contents)
        var config = Self.generationConfig(input)
        for (k, v) in input["generationConfig"]?.objectValue ?? [:] { config[k] = v }
        if !config.isEmpty { o["generationConfig"] = .object(config) }
        if let tools = input["tools"]?.arrayValue, !tools.isEmpty {
            let functions = tools.compactMap { t -> JSONValue? in
                guard let f = OpenAIBody.function(of: t) else { return nil }
                var d: [String: JSONValue] = ["name": f["name"] ?? ""]
                if let v = f["description"] { d["description"] = v }
                if let v = f["parameters"] { d["parameters"] = v }
                return .object(d)
            }
            // Tools that are not OpenAI functions are taken to be Gemini-native (`googleSearch`, …).
            let native = tools.filter { $0["type"]?.stringValue != "function" }
            o["tools"] = .array((functions.isEmpty ? [] : [["functionDeclarations": .array(functions)]]) + native)
            if let mode = Self.functionCallingConfig(input["tool_choice"]), o["toolConfig"] == nil {
                o["toolConfig"] = ["functionCallingConfig": mode]
            }
        }
        ParameterSupport.mergingExtraBody(&o, from: input)

        var headers = baseHeaders(provider, stream: stream)
        // The key goes in a header, never the URL: URLs end up in logs (§7.1).
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "x-goog-api-key", value: key) }
        let method = stream ? ":streamGenerateContent?alt=sse" : ":generateContent"
        return post(provider, path: "/models/" + Self.pathSegment(model) + method, headers: headers, body: .object(o))
    }

    public func makeDecoder() -> any ChunkDecoder { GeminiChunkDecoder() }

    /// `generateContent` returns one `GenerateContentResponse`, the same object a stream event
    /// carries, so it is decoded as a one-event stream and accumulated.
    public func decodeCompletion(_ body: [UInt8]) throws -> ChatCompletion {
        var decoder = GeminiChunkDecoder()
        var acc = ChunkAccumulator()
        try decoder.decode(SSEEvent(data: body)) { acc.add($0) }
        return acc.completion
    }

    public func decodeError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError {
        genericError(status: status, headers: headers, body: body, provider: provider)
    }

    /// Gemini has no documented prefill contract (§7.5).
    public func continuation(of body: JSONValue, partial: String) -> (body: JSONValue, sentPrefill: String)? { nil }
}

// MARK: - Request mapping

extension GeminiWire {
    static func generationConfig(_ input: [String: JSONValue]) -> [String: JSONValue] {
        var c: [String: JSONValue] = [:]
        c["temperature"] = input["temperature"]
        c["topP"] = input["top_p"]
        c["topK"] = input["top_k"]
        c["maxOutputTokens"] = input["max_tokens"] ?? input["max_completion_tokens"]
        if let stop = OpenAIBody.stopSequences(input["stop"]) { c["stopSequences"] = stop }
        c["seed"] = input["seed"]
        c["candidateCount"] = input["n"]
        c["presencePenalty"] = input["presence_penalty"]
        c["frequencyPenalty"] = input["frequency_penalty"]
        switch input["response_format"]?["type"]?.stringValue {
        case "json_object": c["responseMimeType"] = "application/json"
        case "json_schema":
            c["responseMimeType"] = "application/json"
            c["responseJsonSchema"] = input["response_format"]?["json_schema"]?["schema"]
        default: break
        }
        return c.filter { !$0.value.isNull }
    }

    static func functionCallingConfig(_ choice: JSONValue?) -> JSONValue? {
        switch choice {
        case .string("auto")?: return ["mode": "AUTO"]
        case .string("none")?: return ["mode": "NONE"]
        case .string("required")?: return ["mode": "ANY"]
        case .object(let o)? where o["type"]?.stringValue == "function":
            return ["mode": "ANY", "allowedFunctionNames": [o["function"]?["name"] ?? ""]]
        default: return nil
        }
    }

    /// Splits OpenAI messages into `systemInstruction` and `contents`.
    static func contents(_ input: [JSONValue]) throws -> (system: JSONValue?, contents: [JSONValue]) {
        var systemParts: [JSONValue] = []
        var out: [JSONValue] = []
        var responses: [JSONValue] = []
        var callNames: [String: String] = [:]
        func flushResponses() {
            if !responses.isEmpty { out.append(["role": "user", "parts": .array(responses)]) }
            responses = []
        }
        for (n, m) in input.enumerated() {
            let role = m["role"]?.stringValue ?? ""
            if role != "tool" { flushResponses() }
            switch role {
            case "system", "developer":
                systemParts += parts(m["content"])
            case "user":
                out.append(["role": "user", "parts": .array(parts(m["content"]))])
            case "assistant":
                var p = parts(m["content"])
                for call in m["tool_calls"]?.arrayValue ?? [] {
                    let name = call["function"]?["name"]?.stringValue ?? ""
                    if let id = call["id"]?.stringValue { callNames[id] = name }
                    p.append(["functionCall": ["name": .string(name), "args": try OpenAIBody.arguments(of: call, inMessage: n)]])
                }
                out.append(["role": "model", "parts": .array(p)])
            case "tool":
                let id = m["tool_call_id"]?.stringValue ?? ""
                guard let name = m["name"]?.stringValue ?? callNames[id] else {
                    throw WireError.invalidRequest("messages[\(n)]: no assistant tool call has the id \(JSONValue.quoted(id))")
                }
                // `response` must be an object: a JSON object result is sent as is, anything else wrapped.
                let text = ChatMessage(json: m)?.text ?? ""
                var response: JSONValue = ["result": .string(text)]
                if let parsed = try? JSONValue.parse(text), case .object = parsed { response = parsed }
                responses.append(["functionResponse": ["name": .string(name), "response": response]])
            default:
                throw WireError.invalidRequest("messages[\(n)]: role \(m["role"].map { $0.jsonString } ?? "missing") is not one Gemini can take")
            }
        }
        flushResponses()
        return (systemParts.isEmpty ? nil : ["parts": .array(systemParts)], out)
    }

    /// A message's content as Gemini parts; parts it does not know pass through (Gemini-native parts).
    static func parts(_ content: JSONValue?) -> [JSONValue] {
        switch content {
        case .string(let s)?: return s.isEmpty ? [] : [["text": .string(s)]]
        case .array(let items)?:
            return items.map { part in
                switch part["type"]?.stringValue {
                case "text": return ["text": part["text"] ?? ""]
                case "image_url":
                    let url = OpenAIBody.imageURL(of: part)
                    if let data = DataURL(url) {
                        return ["inlineData": ["mimeType": .string(data.mediaType), "data": .string(data.base64)]]
                    }
                    return ["fileData": ["mimeType": .string(mimeType(ofImageAt: url)), "fileUri": .string(url)]]
                default: return part
                }
            }
        default: return []
        }
    }

    static func mimeType(ofImageAt url: String) -> String {
        let path = url.split(separator: "?").first.map(String.init)?.lowercased() ?? ""
        if path.hasSuffix(".png") { return "image/png" }
        if path.hasSuffix(".webp") { return "image/webp" }
        if path.hasSuffix(".gif") { return "image/gif" }
        return "image/jpeg"
    }
}

// MARK: - Stream decoding

/// Decodes `GenerateContentResponse` events (§7.2). Text parts become content (thought parts are
/// skipped); `functionCall` parts arrive whole and become one complete tool-call delta each;
/// `STOP` after a function call reports `tool_calls`; a prompt blocked before any candidate
/// reports `content_filter`. There is no terminal event: the stream is complete once every
/// candidate seen has a `finishReason`.
struct GeminiChunkDecoder: ChunkDecoder {
    private var id = ""
    private var model = ""
    private let created: Int
    private var candidates: [Int: CandidateState] = [:]
    private var blocked = false

    struct CandidateState {
        var toolCalls = 0
        var finished = false
    }

    var isComplete: Bool { blocked || (!candidates.isEmpty && candidates.values.allSatisfy(\.finished)) }

    /// `created` stamps the chunks (Gemini sends no timestamp); tests pass a fixed value.
    init(created: Int = Int(Date().timeIntervalSince1970)) { self.created = created }

    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(event.data) } catch {
            throw WireError.malformed("\(error) in \(String(decoding: event.data.prefix(120), as: UTF8.self))")
        }
        if let error = WireError.inBand(json, typeKeys: ["status"], fallback: "error in stream") { throw error }
        guard case .object = json else { throw WireError.malformed("not a GenerateContentResponse") }
        if id.isEmpty, let v = json["responseId"]?.stringValue { id = v }
        if model.isEmpty, let v = json["modelVersion"]?.stringValue { model = v }

        var choices: [ChatCompletionChunk.Choice] = []
        for c in json["candidates"]?.arrayValue ?? [] {
            let index = c["index"]?.intValue ?? 0
            let isNew = candidates[index] == nil
            var state = candidates[index] ?? CandidateState()
            var text: String?
            var thought: String?
            var calls: [ChatCompletionChunk.ToolCallDelta] = []
            for part in c["content"]?["parts"]?.arrayValue ?? [] {
                if part["thought"]?.boolValue == true {
                    // A thought summary: reasoning, never answer text (wire-formats-2 §3.3).
                    if let t = part["text"]?.stringValue { thought = (thought ?? "") + t }
                    continue
                }
                if let t = part["text"]?.stringValue { text = (text ?? "") + t }
                if let f = part["functionCall"] {
                    let n = state.toolCalls
                    state.toolCalls += 1
                    calls.append(.init(index: n, id: f["id"]?.stringValue ?? "call_\(n)", type: "function",
                                       name: f["name"]?.stringValue ?? "", arguments: (f["args"] ?? [:]).jsonString))
                }
            }
            let raw = c["finishReason"]?.stringValue
            if raw != nil { state.finished = true }
            candidates[index] = state
            choices.append(.init(
                index: index,
                delta: .init(role: isNew ? .assistant : nil, content: text ?? (isNew ? "" : nil), toolCalls: calls.isEmpty ? nil : calls,
                             reasoning: thought),
                finishReason: raw.map { FinishReasonMap.gemini($0, hasFunctionCall: state.toolCalls > 0) },
                providerFinishReason: raw))
        }
        if choices.isEmpty, let reason = json["promptFeedback"]?["blockReason"]?.stringValue {
            blocked = true
            choices.append(.init(delta: .init(role: .assistant, content: ""), finishReason: .contentFilter, providerFinishReason: reason))
        }
        let usage = Self.usage(json["usageMetadata"])
        guard !choices.isEmpty || usage != nil else { return }
        emit(ChatCompletionChunk(id: id, created: created, model: model, choices: choices, usage: usage))
    }

    /// Prompt = prompt + tool-use prompt tokens (the prompt count includes the cached ones);
    /// completion = candidates + thoughts (both billed as output). wire-formats-2.md §4.4.
    static func usage(_ json: JSONValue?) -> CompletionUsage? {
        guard let json, case .object = json else { return nil }
        func count(_ key: String) -> Int { json[key]?.intValue ?? 0 }
        return CompletionUsage(promptTokens: count("promptTokenCount") + count("toolUsePromptTokenCount"),
                     completionTokens: count("candidatesTokenCount") + count("thoughtsTokenCount"),
                     cachedPromptTokens: count("cachedContentTokenCount"), reasoningTokens: count("thoughtsTokenCount"))
    }
}
