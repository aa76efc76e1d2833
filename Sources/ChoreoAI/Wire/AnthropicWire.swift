import ChoreoHTTP
import Foundation

/// Anthropic Messages (`POST /v1/messages`), spoken from an OpenAI-shaped chat body.
/// wire-formats.md §6.
///
/// Request mapping: `system`/`developer` messages become the top-level `system`; assistant
/// `tool_calls` become `tool_use` blocks; runs of `tool` messages become one `user` turn of
/// `tool_result` blocks; `stop` becomes `stop_sequences`; `user` becomes `metadata.user_id`;
/// `response_format` with a JSON schema becomes `output_config.format` (wire-formats-2 §6.2);
/// of `metadata` only `user_id` is sent (Anthropic rejects other keys; the job keeps them);
/// `extra_body` is merged in last. Fields only OpenAI understands (`seed`, `n`, `logprobs`, …)
/// are refused by `choreo submit` (`ParameterSupport`); sent through the library they are
/// dropped. Anything else (`top_k`, `thinking`, …) passes through untouched.
public struct AnthropicWire: WireFormat {
    /// Sent as `max_tokens` when the body has neither `max_tokens` nor `max_completion_tokens`
    /// (Anthropic requires one).
    public static let defaultMaxTokens = 4096
    public static let apiVersion = "2023-06-01"

    /// OpenAI fields with no Anthropic meaning; sending them would be a 400.
    static let droppedFields: Set<String> = [
        "messages", "stop", "max_completion_tokens", "stream_options", "seed", "response_format", "n", "logprobs",
        "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty", "parallel_tool_calls", "store",
        "service_tier", "user", "modalities", "prediction", "audio", "reasoning_effort", "web_search_options",
        "continue_final_message", "add_generation_prompt", "echo", "functions", "function_call", "metadata", "extra_body",
    ]

    public init() {}

    public func makeRequest(_ body: JSONValue, provider: Provider, stream: Bool) throws -> HTTPRequest {
        guard case .object(let input) = body else { throw WireError.invalidRequest("the body is not a JSON object") }
        var o = input.filter { !Self.droppedFields.contains($0.key) }
        let (system, messages) = try Self.messages(input["messages"]?.arrayValue ?? [])
        if let system { o["system"] = system }
        o["messages"] = .array(messages)
        o["max_tokens"] = input["max_tokens"] ?? input["max_completion_tokens"] ?? .int(Int64(Self.defaultMaxTokens))
        if let stop = OpenAIBody.stopSequences(input["stop"]) { o["stop_sequences"] = stop }
        if let tools = input["tools"]?.arrayValue, !tools.isEmpty {
            o["tools"] = .array(tools.map(Self.tool))
            o["tool_choice"] = Self.toolChoice(input["tool_choice"], parallel: input["parallel_tool_calls"]?.boolValue)
        } else {
            o["tools"] = nil
            o["tool_choice"] = nil  // Anthropic rejects a tool_choice without tools
        }
        if let user = input["user"]?.stringValue ?? input["metadata"]?["user_id"]?.stringValue {
            o["metadata"] = ["user_id": .string(user)]
        }
        if input["response_format"]?["type"]?.stringValue == "json_schema", let schema = input["response_format"]?["json_schema"]?["schema"] {
            var config = input["output_config"]?.objectValue ?? [:]
            config["format"] = ["type": "json_schema", "schema": schema]
            o["output_config"] = .object(config)
        }
        ParameterSupport.mergingExtraBody(&o, from: input)
        o["stream"] = .bool(stream)

        var headers = baseHeaders(provider, stream: stream)
        if let key = provider.apiKey, !key.isEmpty { headers.add(name: "x-api-key", value: key) }
        if headers["anthropic-version"] == nil { headers.add(name: "anthropic-version", value: Self.apiVersion) }
        return provider.post(path: "/v1/messages", headers: headers, body: .object(o))
    }

    public func makeDecoder() -> any ChunkDecoder { AnthropicChunkDecoder() }

    /// Decodes a non-streaming `Message` object (§6.2, "Accumulated Message").
    public func decodeCompletion(_ body: [UInt8]) throws -> ChatCompletion {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw WireError.malformed("\(error)") }
        if json["type"]?.stringValue == "error" { throw WireError.provider(json["error"], fallback: "unknown error") }
        guard let blocks = json["content"]?.arrayValue else { throw WireError.malformed("no content in the message") }
        var text: String?
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text": text = (text ?? "") + (block["text"]?.stringValue ?? "")
            case "tool_use":
                calls.append(ToolCall(id: block["id"]?.stringValue ?? "", function: .init(
                    name: block["name"]?.stringValue ?? "", arguments: (block["input"] ?? [:]).jsonString)))
            default: break
            }
        }
        let raw = json["stop_reason"]?.stringValue
        return ChatCompletion(
            id: json["id"]?.stringValue ?? "", created: Int(Date().timeIntervalSince1970), model: json["model"]?.stringValue ?? "",
            choices: [.init(index: 0, message: .init(content: text ?? (calls.isEmpty ? "" : nil), toolCalls: calls.isEmpty ? nil : calls),
                            finishReason: raw.map(FinishReasonMap.anthropic), providerFinishReason: raw)],
            usage: Self.usage(json["usage"]))
    }

    public func decodeError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError {
        genericError(status: status, headers: headers, body: body, provider: provider)
    }

    /// Native prefill (§6.5, §10): the partial text becomes a trailing assistant message, with
    /// trailing whitespace trimmed because the API rejects it. Not available with extended thinking.
    public func continuation(of body: JSONValue, partial: String) -> (body: JSONValue, sentPrefill: String)? {
        guard case .object(var o) = body, var messages = o["messages"]?.arrayValue else { return nil }
        if Self.thinks(body) { return nil }
        let prefill = Continuation.prefill(for: partial)
        // An all-whitespace partial: nothing worth keeping (an empty prefill is rejected too): restart.
        guard !prefill.isEmpty else { return nil }
        messages.append(["role": "assistant", "content": .string(prefill)])
        o["messages"] = .array(messages)
        return (.object(o), prefill)
    }

    /// Whether the request turns extended thinking on: then a prefill is refused (§6.5; on every
    /// model, wire-formats-2.md §3.2), so a cut stream restarts.
    public static func thinks(_ body: JSONValue) -> Bool {
        guard let thinking = body["thinking"], !thinking.isNull else { return false }
        return thinking["type"]?.stringValue != "disabled"
    }

    /// Prompt tokens are input plus both cache counts (§6.2; the three are disjoint, wire-formats-2.md
    /// §4.3). A `message_delta`'s usage is cumulative but may leave the input counts out: those
    /// come from `start` (the `message_start` usage) then.
    static func usage(_ json: JSONValue?, start: CompletionUsage? = nil) -> CompletionUsage? {
        guard let json, case .object = json else { return nil }
        let input = json["input_tokens"]?.intValue
        let read = json["cache_read_input_tokens"]?.intValue ?? start?.cachedPromptTokens ?? 0
        let write = json["cache_creation_input_tokens"]?.intValue ?? start?.cacheWriteTokens ?? 0
        let prompt = input.map { $0 + read + write } ?? start?.promptTokens ?? 0
        return CompletionUsage(promptTokens: prompt, completionTokens: json["output_tokens"]?.intValue ?? 0,
                     cachedPromptTokens: read, cacheWriteTokens: write,
                     reasoningTokens: json["output_tokens_details"]?["thinking_tokens"]?.intValue ?? 0)
    }
}

// MARK: - Request mapping

extension AnthropicWire {
    /// Splits OpenAI messages into Anthropic's top-level `system` and its user/assistant turns.
    static func messages(_ input: [JSONValue]) throws -> (system: JSONValue?, messages: [JSONValue]) {
        var systemParts: [JSONValue] = []
        var out: [JSONValue] = []
        var pendingResults: [JSONValue] = []
        func flushResults() {
            if !pendingResults.isEmpty { out.append(["role": "user", "content": .array(pendingResults)]) }
            pendingResults = []
        }
        for (n, m) in input.enumerated() {
            let role = m["role"]?.stringValue ?? ""
            if role != "tool" { flushResults() }
            switch role {
            case "system", "developer":
                switch m["content"] {
                case .string(let s)?: systemParts.append(["type": "text", "text": .string(s)])
                case .array(let parts)?: systemParts += parts.map(contentBlock)
                default: break
                }
            case "user":
                out.append(["role": "user", "content": content(m["content"])])
            case "assistant":
                guard let calls = m["tool_calls"]?.arrayValue, !calls.isEmpty else {
                    out.append(["role": "assistant", "content": content(m["content"])])
                    continue
                }
                var blocks: [JSONValue] = []
                switch m["content"] {
                case .string(let s)? where !s.isEmpty: blocks.append(["type": "text", "text": .string(s)])
                case .array(let parts)?: blocks += parts.map(contentBlock)
                default: break
                }
                for call in calls {
                    blocks.append(["type": "tool_use", "id": call["id"] ?? "", "name": call["function"]?["name"] ?? "",
                                   "input": try OpenAIBody.arguments(of: call, inMessage: n)])
                }
                out.append(["role": "assistant", "content": .array(blocks)])
            case "tool":
                pendingResults.append(["type": "tool_result", "tool_use_id": m["tool_call_id"] ?? "", "content": content(m["content"])])
            default:
                throw WireError.invalidRequest("messages[\(n)]: role \(m["role"].map { $0.jsonString } ?? "missing") is not one Anthropic can take")
            }
        }
        flushResults()
        let system: JSONValue?
        if systemParts.isEmpty {
            system = nil
        } else if systemParts.allSatisfy({ $0["type"]?.stringValue == "text" && $0.objectValue?.count == 2 }) {
            system = .string(systemParts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n\n"))
        } else {
            system = .array(systemParts)
        }
        return (system, out)
    }

    /// A message's content: a string stays a string, parts become blocks.
    static func content(_ value: JSONValue?) -> JSONValue {
        switch value {
        case .string(let s)?: return .string(s)
        case .array(let parts)?: return .array(parts.map(contentBlock))
        default: return ""
        }
    }

    /// One OpenAI content part as an Anthropic block; parts it does not know pass through.
    static func contentBlock(_ part: JSONValue) -> JSONValue {
        switch part["type"]?.stringValue {
        case "text":
            return ["type": "text", "text": part["text"] ?? ""]
        case "image_url":
            let url = OpenAIBody.imageURL(of: part)
            if let data = DataURL(url) {
                return ["type": "image", "source": ["type": "base64", "media_type": .string(data.mediaType), "data": .string(data.base64)]]
            }
            return ["type": "image", "source": ["type": "url", "url": .string(url)]]
        default:
            return part
        }
    }

    /// `{"type":"function","function":{name,description,parameters}}` → `{name,description,input_schema}`.
    static func tool(_ tool: JSONValue) -> JSONValue {
        guard let f = OpenAIBody.function(of: tool) else { return tool }
        var t: [String: JSONValue] = ["name": f["name"] ?? "", "input_schema": f["parameters"] ?? ["type": "object", "properties": [:]]]
        if let d = f["description"] { t["description"] = d }
        return .object(t)
    }

    /// OpenAI `tool_choice` → Anthropic's; `parallel_tool_calls: false` → `disable_parallel_tool_use`.
    static func toolChoice(_ choice: JSONValue?, parallel: Bool?) -> JSONValue? {
        var c: [String: JSONValue]
        switch choice {
        case nil, .null?:
            guard parallel == false else { return nil }
            c = ["type": "auto"]
        case .string("auto")?: c = ["type": "auto"]
        case .string("required")?: c = ["type": "any"]
        case .string("none")?: return ["type": "none"]
        case .object(let o)? where o["type"]?.stringValue == "function":
            c = ["type": "tool", "name": o["function"]?["name"] ?? ""]
        case let other?: return other  // already Anthropic-shaped, or for the API to reject
        }
        if parallel == false { c["disable_parallel_tool_use"] = true }
        return .object(c)
    }
}

/// A `data:<media type>;base64,<data>` URL, as OpenAI image parts carry inline images.
struct DataURL {
    var mediaType: String
    var base64: String

    init?(_ url: String) {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard header.hasSuffix(";base64") else { return nil }
        mediaType = String(header.dropLast(7))
        base64 = String(url[url.index(after: comma)...])
    }
}

// MARK: - Stream decoding

/// Decodes Anthropic's stream events (§6.2), keyed on `data.type`. Text deltas become content
/// chunks; each `tool_use` block becomes a tool call whose index is its position among the tool
/// blocks (block indices also count text and thinking blocks); `message_delta` carries the stop
/// reason and cumulative usage; `message_stop` ends the stream. Thinking and unknown events yield nothing.
struct AnthropicChunkDecoder: KeptChunkTextDecoder {
    private(set) var isComplete = false
    private var id = ""
    private var model = ""
    private let created: Int
    /// The `message_start` usage: the input counts a `message_delta` may leave out.
    private var startUsage: CompletionUsage?
    /// Content-block index → tool-call ordinal, and whether any argument text arrived for it.
    private var toolBlocks: [Int: (ordinal: Int, sawArguments: Bool)] = [:]

    /// Unescaped string bytes for the fast path, reused across events.
    private var scratch: [UInt8] = []
    /// The chunk a text delta becomes, kept and given each delta's text: no chunk is built per
    /// delta. Made again (`textChunkIsKept` false) when `message_start` changes the id or model.
    /// Not an optional: handing on an optional's unwrapped value copied the chunk every event.
    private var textChunk = ChatCompletionChunk(id: "", created: 0, model: "", choices: [])
    private var textChunkIsKept = false

    /// `created` stamps the chunks (Anthropic sends no timestamp); tests pass a fixed value.
    init(created: Int = Int(Date().timeIntervalSince1970)) { self.created = created }

    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        try event.data.withUnsafeBytes { raw in
            try decode(view: SSEEventView(type: event.type, data: raw, lastEventID: event.lastEventID), emit: emit)
        }
    }

    /// `decode`, with a text delta handed to `text`: the kept chunk and the text's bytes, lent for the call.
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void,
                         text: (inout ChatCompletionChunk, UnsafeBufferPointer<UInt8>) -> Void) throws {
        if let bytes = Self.textDelta(view.data, scratch: &scratch) {
            if !textChunkIsKept {
                textChunk = chunk(.init(content: ""))
                textChunkIsKept = true
            }
            bytes.withBytes(in: view.data, scratch: scratch) { text(&textChunk, $0) }
            return
        }
        try decodeFull(view.event, emit: emit)
    }

    /// The text of a text block's `content_block_delta` event, read from its bytes when they are
    /// exactly as Anthropic prints them: compact, in this key order,
    /// `{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}`.
    /// `nil` for anything else, which `decodeFull` decodes. Nearly every event of a stream is one
    /// of these, and building a `JSONValue` tree for each was most of the stream's cost
    /// (BENCHMARKS.md, round 6). The text is decoded as the full parser decodes it, or not at all.
    static func textDelta(_ raw: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> OpenAIChunkScanner.StringBytes? {
        guard let base = raw.baseAddress, raw.count > textDeltaHead.count + textDeltaMiddle.count else { return nil }
        var r = Reader(p: base.assumingMemoryBound(to: UInt8.self), end: raw.count)
        guard r.eat(textDeltaHead), r.integer() != nil, r.eat(textDeltaMiddle),
              let text = OpenAIChunkScanner.stringBytes(&r, &scratch), r.eat(UInt8(ascii: "}")), r.eat(UInt8(ascii: "}")),
              r.i == r.end else { return nil }
        return text
    }

    private static let textDeltaHead = Array(#"{"type":"content_block_delta","index":"#.utf8)
    private static let textDeltaMiddle = Array(#","delta":{"type":"text_delta","text":"#.utf8)

    private func chunk(_ delta: ChatCompletionChunk.Delta) -> ChatCompletionChunk {
        ChatCompletionChunk(id: id, created: created, model: model, choices: [.init(delta: delta)])
    }

    /// Every event, through the JSON parser.
    mutating func decodeFull(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(event.data) } catch {
            throw WireError.malformed("\(error) in \(String(decoding: event.data.prefix(120), as: UTF8.self))")
        }
        switch json["type"]?.stringValue ?? event.type {
        case "message_start":
            let m = json["message"]
            id = m?["id"]?.stringValue ?? id
            model = m?["model"]?.stringValue ?? model
            textChunkIsKept = false
            startUsage = AnthropicWire.usage(m?["usage"])
            emit(chunk(.init(role: .assistant, content: "")))
        case "content_block_start":
            let block = json["content_block"]
            switch block?["type"]?.stringValue {
            case "text":
                if let t = block?["text"]?.stringValue, !t.isEmpty { emit(chunk(.init(content: t))) }
            case "tool_use":
                let ordinal = toolBlocks.count
                toolBlocks[json["index"]?.intValue ?? -1] = (ordinal, false)
                emit(chunk(.init(toolCalls: [.init(index: ordinal, id: block?["id"]?.stringValue, type: "function",
                                                   name: block?["name"]?.stringValue, arguments: "")])))
            default: break
            }
        case "content_block_delta":
            let delta = json["delta"]
            switch delta?["type"]?.stringValue {
            case "text_delta":
                emit(chunk(.init(content: delta?["text"]?.stringValue ?? "")))
            case "input_json_delta":
                let index = json["index"]?.intValue ?? -1
                guard let block = toolBlocks[index] else { return }
                let fragment = delta?["partial_json"]?.stringValue ?? ""
                if !fragment.isEmpty { toolBlocks[index]?.sawArguments = true }
                emit(chunk(.init(toolCalls: [.init(index: block.ordinal, arguments: fragment)])))
            case "thinking_delta":
                // Reasoning, kept apart from the answer (wire-formats-2 §3.2).
                emit(chunk(.init(reasoning: delta?["thinking"]?.stringValue ?? "")))
            case "signature_delta":
                // Continuing a turn with thinking needs the block's signature back: kept with it.
                var d = ChatCompletionChunk.Delta()
                d.reasoningSignature = delta?["signature"]?.stringValue
                emit(chunk(d))
            default: break  // citations are not answer text
            }
        case "content_block_stop":
            // A tool called with no input streams no argument text; its input is `{}` (§6.2).
            if let block = toolBlocks[json["index"]?.intValue ?? -1], !block.sawArguments {
                emit(chunk(.init(toolCalls: [.init(index: block.ordinal, arguments: "{}")])))
            }
        case "message_delta":
            let usage = AnthropicWire.usage(json["usage"], start: startUsage)
            if let usage { startUsage = usage }
            let raw = json["delta"]?["stop_reason"]?.stringValue
            let choices: [ChatCompletionChunk.Choice] = raw.map {
                [.init(delta: .init(), finishReason: FinishReasonMap.anthropic($0), providerFinishReason: $0)]
            } ?? []
            emit(ChatCompletionChunk(id: id, created: created, model: model, choices: choices, usage: usage))
        case "message_stop":
            isComplete = true
        case "error":
            throw WireError.provider(json["error"], fallback: "error in stream")
        default:
            break  // ping, and event types added after this was written
        }
    }
}

extension Reader {
    /// Consumes `bytes` when the input continues with exactly them.
    mutating func eat(_ bytes: [UInt8]) -> Bool {
        guard end - i >= bytes.count else { return false }
        let same = bytes.withUnsafeBytes { memcmp($0.baseAddress!, p + i, bytes.count) == 0 }
        if same { i += bytes.count }
        return same
    }
}
