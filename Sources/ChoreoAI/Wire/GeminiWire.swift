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
        return provider.post(path: "/models/" + Self.pathSegment(model) + method, headers: headers, body: .object(o))
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
///
/// An event is first read into a `Response` (what it says), then applied to the stream's state.
/// The common event, text parts and usage, is read straight from its bytes (`scan`), and the
/// ones after it through a `Template` of it (only their text and usage are read); anything
/// else, or anything the scanner doubts, goes through the JSON parser (`parse`). All three give
/// the same `Response` (AnthropicGeminiFastPathTests).
struct GeminiChunkDecoder: KeptChunkTextDecoder {
    private var id = ""
    private var model = ""
    private let created: Int
    /// Per candidate index, in order of appearance (nearly always one: a linear search beats hashing).
    private var candidates: [(index: Int, state: CandidateState)] = []
    private var blocked = false
    /// Unescaped string bytes for the scanner, reused across events.
    private var scratch: [UInt8] = []
    /// The last scanned event that `Template` can repeat.
    private var template: Template?
    /// The chunk of the common event (see `apply`), kept and given each event's text and usage:
    /// no chunk is built per event. Not an optional: handing on an optional's unwrapped value
    /// copied the chunk on every event.
    private var textChunk = ChatCompletionChunk(id: "", created: 0, model: "", choices: [])
    /// The candidate `textChunk` is for while it is kept; nil when there is none to keep (at
    /// first, and once the id or model is set).
    private var textChunkIndex: Int?

    struct CandidateState {
        var toolCalls = 0
        var finished = false
    }

    /// What one event says, before the stream's state is applied to it.
    struct Response: Equatable {
        var responseId: String?
        var modelVersion: String?
        var candidates: [Candidate] = []
        var blockReason: String?
        var usage: CompletionUsage?
    }

    struct Candidate: Equatable {
        var index = 0
        var text: String?
        var thought: String?
        var functionCalls: [FunctionCall] = []
        var finishReason: String?
    }

    struct FunctionCall: Equatable {
        var id: String?
        var name: String
        var arguments: String
    }

    var isComplete: Bool { blocked || (!candidates.isEmpty && candidates.allSatisfy(\.state.finished)) }

    /// `created` stamps the chunks (Gemini sends no timestamp); tests pass a fixed value.
    init(created: Int = Int(Date().timeIntervalSince1970)) { self.created = created }

    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        try event.data.withUnsafeBytes { raw in
            try decode(view: SSEEventView(type: event.type, data: raw, lastEventID: event.lastEventID), emit: emit)
        }
    }

    /// `decode`, with a text event the template matched for the candidate of the kept chunk
    /// handed to `text`: the chunk (its usage set) and the text's bytes, lent for the call.
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void,
                         text: (inout ChatCompletionChunk, UnsafeBufferPointer<UInt8>) -> Void) throws {
        var counts = UsageCounts()
        if let template, let bytes = template.read(view.data, scratch: &scratch, counts: &counts) {
            // A text event for the candidate the kept chunk is for changes no state (see `apply`):
            // only the chunk's text and usage are set. Else the template's `Response` is applied.
            if let index = template.textIndex, textChunkIndex == index {
                textChunk.usage = counts.usage
                bytes.withBytes(in: view.data, scratch: scratch) { text(&textChunk, $0) }
            } else {
                apply(template.response(text: bytes.string(in: view.data, scratch: scratch), usage: counts.usage), emit: emit)
            }
            return
        }
        var spans = Spans()
        // The id and model are read once; later events' are only checked.
        if let response = Self.scan(view.data, readingIDs: id.isEmpty || model.isEmpty, scratch: &scratch, spans: &spans) {
            if let t = Template(Array(view.data), spans, response) { template = t }
            apply(response, emit: emit)
            return
        }
        apply(try Self.parse(Array(view.data)), emit: emit)
    }

    /// Every event, through the JSON parser.
    mutating func decodeFull(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws {
        apply(try Self.parse(event.data), emit: emit)
    }

    static func parse(_ data: [UInt8]) throws -> Response {
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch {
            throw WireError.malformed("\(error) in \(String(decoding: data.prefix(120), as: UTF8.self))")
        }
        if let error = WireError.inBand(json, typeKeys: ["status"], fallback: "error in stream") { throw error }
        guard case .object = json else { throw WireError.malformed("not a GenerateContentResponse") }
        var response = Response(responseId: json["responseId"]?.stringValue, modelVersion: json["modelVersion"]?.stringValue,
                                usage: usage(json["usageMetadata"]))
        for c in json["candidates"]?.arrayValue ?? [] {
            var candidate = Candidate(index: c["index"]?.intValue ?? 0, finishReason: c["finishReason"]?.stringValue)
            for part in c["content"]?["parts"]?.arrayValue ?? [] {
                if part["thought"]?.boolValue == true {
                    // A thought summary: reasoning, never answer text (wire-formats-2 §3.3).
                    if let t = part["text"]?.stringValue { candidate.thought = (candidate.thought ?? "") + t }
                    continue
                }
                if let t = part["text"]?.stringValue { candidate.text = (candidate.text ?? "") + t }
                if let f = part["functionCall"] {
                    candidate.functionCalls.append(.init(id: f["id"]?.stringValue, name: f["name"]?.stringValue ?? "",
                                                         arguments: (f["args"] ?? [:]).jsonString))
                }
            }
            response.candidates.append(candidate)
        }
        response.blockReason = json["promptFeedback"]?["blockReason"]?.stringValue
        return response
    }

    private mutating func apply(_ response: Response, emit: (ChatCompletionChunk) -> Void) {
        if id.isEmpty, let v = response.responseId { id = v; textChunkIndex = nil }
        if model.isEmpty, let v = response.modelVersion { model = v; textChunkIndex = nil }
        // The common event, more text (or none) for a candidate already seen, changes no state:
        // it is the kept chunk with this event's text and usage, as the loop below would build it.
        // (The candidate is read in place: a `let` of it copied each of its fields, every event.)
        if response.candidates.count == 1, response.candidates[0].functionCalls.isEmpty, response.candidates[0].thought == nil,
           response.candidates[0].finishReason == nil, candidates.contains(where: { $0.index == response.candidates[0].index }) {
            emitText(response.candidates[0].text, response.usage, index: response.candidates[0].index, emit: emit)
            return
        }
        var choices: [ChatCompletionChunk.Choice] = []
        for c in response.candidates {
            let slot = candidates.firstIndex { $0.index == c.index }
            let isNew = slot == nil
            var state = slot.map { candidates[$0].state } ?? CandidateState()
            var calls: [ChatCompletionChunk.ToolCallDelta] = []
            for f in c.functionCalls {
                let n = state.toolCalls
                state.toolCalls += 1
                calls.append(.init(index: n, id: f.id ?? "call_\(n)", type: "function", name: f.name, arguments: f.arguments))
            }
            if c.finishReason != nil { state.finished = true }
            if let slot { candidates[slot].state = state } else { candidates.append((c.index, state)) }
            choices.append(.init(
                index: c.index,
                delta: .init(role: isNew ? .assistant : nil, content: c.text ?? (isNew ? "" : nil), toolCalls: calls.isEmpty ? nil : calls,
                             reasoning: c.thought),
                finishReason: c.finishReason.map { FinishReasonMap.gemini($0, hasFunctionCall: state.toolCalls > 0) },
                providerFinishReason: c.finishReason))
        }
        if choices.isEmpty, let reason = response.blockReason {
            blocked = true
            choices.append(.init(delta: .init(role: .assistant, content: ""), finishReason: .contentFilter, providerFinishReason: reason))
        }
        guard !choices.isEmpty || response.usage != nil else { return }
        emit(ChatCompletionChunk(id: id, created: created, model: model, choices: choices, usage: response.usage))
    }

    /// The common event: the kept chunk, made for candidate `index` if it is not, with this text and usage.
    private mutating func emitText(_ text: String?, _ usage: CompletionUsage?, index: Int, emit: (ChatCompletionChunk) -> Void) {
        if textChunkIndex != index {
            textChunk = ChatCompletionChunk(id: id, created: created, model: model, choices: [.init(index: index, delta: .init())])
            textChunkIndex = index
        }
        textChunk.choices[0].delta.content = text
        textChunk.usage = usage
        emit(textChunk)
    }

    /// Prompt = prompt + tool-use prompt tokens (the prompt count includes the cached ones);
    /// completion = candidates + thoughts (both billed as output). wire-formats-2.md §4.4.
    static func usage(_ json: JSONValue?) -> CompletionUsage? {
        guard let json, case .object = json else { return nil }
        func count(_ key: String) -> Int { json[key]?.intValue ?? 0 }
        return usage(prompt: count("promptTokenCount"), candidates: count("candidatesTokenCount"), cached: count("cachedContentTokenCount"),
                     thoughts: count("thoughtsTokenCount"), toolUsePrompt: count("toolUsePromptTokenCount"))
    }

    static func usage(prompt: Int, candidates: Int, cached: Int, thoughts: Int, toolUsePrompt: Int) -> CompletionUsage {
        CompletionUsage(promptTokens: prompt + toolUsePrompt, completionTokens: candidates + thoughts,
                        cachedPromptTokens: cached, reasoningTokens: thoughts)
    }
}

// MARK: - The scanner

extension GeminiChunkDecoder {
    /// The `Response` in `data`, read from its bytes without a `JSONValue` tree: candidates whose
    /// parts are text, usage counts, the response id and model version (decoded only when
    /// `readingIDs`, else only checked), in any order and spacing, other members skipped (and
    /// checked as JSON). `nil` hands the event to `parse`: thought parts, function calls, an
    /// `error` or `promptFeedback` member, a duplicate member it reads, numbers that are not
    /// plain integers, nulls and types it does not expect, and whatever `Reader` doubts
    /// (escaped keys, non-ASCII in skipped strings, malformed JSON). Most events of a stream
    /// are text; parsing each into a tree cost ~40k instructions (BENCHMARKS.md, round 6).
    /// `spans` notes where the parts that change from event to event were (`Template`). The
    /// bytes are lent for the call (`SSEEventView`).
    static func scan(_ raw: UnsafeRawBufferPointer, readingIDs: Bool, scratch: inout [UInt8], spans: inout Spans) -> Response? {
        guard let base = raw.baseAddress else { return nil }
        var r = Reader(p: base.assumingMemoryBound(to: UInt8.self), end: raw.count)
        var response = Response()
        r.skipWhitespace()
        let ok = r.members(Key.top) { r, k in
            switch k {
            case Key.candidates:
                guard r.eat(UInt8(ascii: "[")) else { return false }
                r.skipWhitespace()
                if r.eat(UInt8(ascii: "]")) { return true }
                while true {
                    r.skipWhitespace()
                    guard let c = scanCandidate(&r, &scratch, &spans) else { return false }
                    response.candidates.append(c)
                    r.skipWhitespace()
                    if r.eat(UInt8(ascii: ",")) { continue }
                    return r.eat(UInt8(ascii: "]"))
                }
            case Key.usage:
                let start = r.i
                guard let u = scanUsage(&r, &spans.counts) else { return false }
                response.usage = u
                spans.usage = start..<r.i
            case Key.responseId where readingIDs:
                guard let s = OpenAIChunkScanner.string(&r, &scratch) else { return false }
                response.responseId = s
            case Key.modelVersion where readingIDs:
                guard let s = OpenAIChunkScanner.string(&r, &scratch) else { return false }
                response.modelVersion = s
            case Key.responseId, Key.modelVersion:
                // Already read: only checked, and only a string (what `parse` would have taken).
                guard r.i < r.end, r.p[r.i] == UInt8(ascii: "\""), r.skipValue(depth: 0) else { return false }
            case _ where k & Key.fallback != 0:
                return false
            default:
                return r.skipValue(depth: 0)
            }
            return true
        }
        guard ok else { return nil }
        r.skipWhitespace()
        return r.i == r.end ? response : nil
    }

    /// Where the scanner found the text string(s) (quotes included), the usage object and its counts.
    struct Spans {
        var texts = 0
        var text: Range<Int>?
        var usage: Range<Int>?
        /// The counts in the usage object, in order.
        var counts: [(range: Range<Int>, key: UInt32)] = []
    }

    private static func scanCandidate(_ r: inout Reader, _ scratch: inout [UInt8], _ spans: inout Spans) -> Candidate? {
        var c = Candidate()
        let ok = r.members(Key.candidate) { r, k in
            switch k {
            case Key.index:
                guard let n = r.integer() else { return false }
                c.index = n
            case Key.finishReason:
                guard let s = OpenAIChunkScanner.string(&r, &scratch) else { return false }
                c.finishReason = s
            case Key.content:
                return r.members(Key.content) { r, k in
                    guard k == Key.parts else { return r.skipValue(depth: 2) }
                    guard r.eat(UInt8(ascii: "[")) else { return false }
                    r.skipWhitespace()
                    if r.eat(UInt8(ascii: "]")) { return true }
                    while true {
                        r.skipWhitespace()
                        let part = r.members(Key.part) { r, k in
                            switch k {
                            case Key.text:
                                let start = r.i
                                guard let t = OpenAIChunkScanner.string(&r, &scratch) else { return false }
                                c.text = (c.text ?? "") + t
                                spans.texts += 1
                                spans.text = start..<r.i
                                return true
                            case _ where k & Key.fallback != 0: return false
                            default: return r.skipValue(depth: 4)
                            }
                        }
                        guard part else { return false }
                        r.skipWhitespace()
                        if r.eat(UInt8(ascii: ",")) { continue }
                        return r.eat(UInt8(ascii: "]"))
                    }
                }
            default:
                return r.skipValue(depth: 1)
            }
            return true
        }
        return ok ? c : nil
    }

    /// A scanned event with one candidate and one text part before its usage, cut around the
    /// text and around the counts in the usage. Within a stream, text events are byte for byte
    /// the same except for their text and usage counts: an event with the template's bytes
    /// around a valid text string and plain integer counts is the template's `Response` with
    /// that text and those counts, and only those are read. (The other bytes being the same, so
    /// is what the scanner would read from them.)
    final class Template: Sendable {
        let head: [UInt8]
        let middle: [UInt8]
        /// The usage object and the rest of the event, cut at each count: bytes, a count, bytes, ….
        let segments: [[UInt8]]
        /// Which count (`Key.prompt` …) each cut is.
        let counts: [UInt32]
        /// The event, its text and usage aside.
        private let response: Response
        /// The candidate's index when the event is only text (no finish reason, thought or
        /// function call): the common event, which `decode` hands straight to the kept chunk
        /// once that chunk is this candidate's (and so the candidate and the ids are known).
        let textIndex: Int?

        init?(_ data: [UInt8], _ spans: Spans, _ response: Response) {
            guard spans.texts == 1, let text = spans.text, let usage = spans.usage, text.upperBound <= usage.lowerBound,
                  response.candidates.count == 1 else { return nil }
            head = Array(data[..<text.lowerBound])
            middle = Array(data[text.upperBound..<usage.lowerBound])
            var segments: [[UInt8]] = []
            var at = usage.lowerBound
            for (range, _) in spans.counts {
                segments.append(Array(data[at..<range.lowerBound]))
                at = range.upperBound
            }
            segments.append(Array(data[at...]))
            self.segments = segments
            counts = spans.counts.map(\.key)
            self.response = response
            let c = response.candidates[0]
            textIndex = c.finishReason == nil && c.thought == nil && c.functionCalls.isEmpty ? c.index : nil
        }

        /// The `Response` of an event that matched, with its `text` and `usage`.
        func response(text: String, usage: CompletionUsage) -> Response {
            var r = response
            r.candidates[0].text = text
            r.usage = usage
            return r
        }

        /// Where the text of the lent bytes `raw` is (in them or in `scratch`) when they match the
        /// template, their usage counts set in `counts`; nil when they do not. (Not a text and
        /// usage together: an optional of a pair was destroyed through its type's metadata,
        /// ~90–150 instructions an event.)
        func read(_ raw: UnsafeRawBufferPointer, scratch: inout [UInt8], counts usage: inout UsageCounts) -> OpenAIChunkScanner.StringBytes? {
            guard let base = raw.baseAddress else { return nil }
            var r = Reader(p: base.assumingMemoryBound(to: UInt8.self), end: raw.count)
            guard r.eat(head), let text = OpenAIChunkScanner.stringBytes(&r, &scratch), r.eat(middle) else { return nil }
            for (k, key) in counts.enumerated() {
                guard r.eat(segments[k]), let n = r.integer() else { return nil }
                usage.set(key, n)
            }
            guard r.eat(segments[counts.count]), r.i == r.end else { return nil }
            return text
        }
    }

    /// The counts of a `usageMetadata` object that `usage(prompt:…)` takes.
    struct UsageCounts {
        var prompt = 0, candidates = 0, cached = 0, thoughts = 0, toolUsePrompt = 0

        mutating func set(_ key: UInt32, _ n: Int) {
            switch key {
            case Key.prompt: prompt = n
            case Key.candidatesCount: candidates = n
            case Key.cached: cached = n
            case Key.thoughts: thoughts = n
            case Key.toolUsePrompt: toolUsePrompt = n
            default: break  // the total: read (it changes with the others) but not kept
            }
        }

        var usage: CompletionUsage {
            GeminiChunkDecoder.usage(prompt: prompt, candidates: candidates, cached: cached, thoughts: thoughts, toolUsePrompt: toolUsePrompt)
        }
    }

    /// A `usageMetadata` object; where each count was goes to `counts`.
    private static func scanUsage(_ r: inout Reader, _ counts: inout [(range: Range<Int>, key: UInt32)]) -> CompletionUsage? {
        var usage = UsageCounts()
        let ok = r.members(Key.usage) { r, k in
            if k == 0 { return r.skipValue(depth: 1) }
            let start = r.i
            guard let n = r.integer() else { return false }
            usage.set(k, n)
            counts.append((start..<r.i, k))
            return true
        }
        return ok ? usage.usage : nil
    }

    /// Bit flags for the members the scanner reads (0: skipped); `fallback` for members that
    /// send the event to the parser.
    fileprivate enum Key {
        static let fallback: UInt32 = 1 << 31
        static let candidates: UInt32 = 1, usage: UInt32 = 2, responseId: UInt32 = 4, modelVersion: UInt32 = 8,
                   error: UInt32 = fallback | 16, promptFeedback: UInt32 = fallback | 32
        static let index: UInt32 = 1, finishReason: UInt32 = 2, content: UInt32 = 4
        static let parts: UInt32 = 1
        static let text: UInt32 = 1, thought: UInt32 = fallback | 2, functionCall: UInt32 = fallback | 4
        static let prompt: UInt32 = 1, candidatesCount: UInt32 = 2, cached: UInt32 = 4, thoughts: UInt32 = 8, toolUsePrompt: UInt32 = 16,
                   total: UInt32 = 32

        static func top(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 5: return Reader.equal(k, p, "error") ? error : 0
            case 10: return Reader.equal(k, p, "candidates") ? candidates : Reader.equal(k, p, "responseId") ? responseId : 0
            case 12: return Reader.equal(k, p, "modelVersion") ? modelVersion : 0
            case 13: return Reader.equal(k, p, "usageMetadata") ? usage : 0
            case 14: return Reader.equal(k, p, "promptFeedback") ? promptFeedback : 0
            default: return 0
            }
        }

        static func candidate(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 5: return Reader.equal(k, p, "index") ? index : 0
            case 7: return Reader.equal(k, p, "content") ? content : 0
            case 12: return Reader.equal(k, p, "finishReason") ? finishReason : 0
            default: return 0
            }
        }

        static func content(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            k.count == 5 && Reader.equal(k, p, "parts") ? parts : 0
        }

        static func part(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 4: return Reader.equal(k, p, "text") ? text : 0
            case 7: return Reader.equal(k, p, "thought") ? thought : 0
            case 12: return Reader.equal(k, p, "functionCall") ? functionCall : 0
            default: return 0
            }
        }

        static func usage(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 15: return Reader.equal(k, p, "totalTokenCount") ? total : 0
            case 16: return Reader.equal(k, p, "promptTokenCount") ? prompt : 0
            case 18: return Reader.equal(k, p, "thoughtsTokenCount") ? thoughts : 0
            case 20: return Reader.equal(k, p, "candidatesTokenCount") ? candidatesCount : 0
            case 23:
                return Reader.equal(k, p, "cachedContentTokenCount") ? cached : Reader.equal(k, p, "toolUsePromptTokenCount") ? toolUsePrompt : 0
            default: return 0
            }
        }
    }
}
