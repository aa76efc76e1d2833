/// Folds a chunk stream into the final `ChatCompletion` (wire-formats.md §3) and exposes what has
/// arrived so far at any moment (`text`, `toolCalls`), which is what a recovery needs.
public struct ChunkAccumulator: Sendable {
    public private(set) var id = ""
    public private(set) var created = 0
    public private(set) var model = ""
    public private(set) var systemFingerprint: String?
    /// Cumulative usage: the last value reported wins (providers report running totals).
    public private(set) var usage: CompletionUsage?
    /// Whether `usage` is the answer's final count: it came with or after a finish reason (OpenAI's
    /// usage chunk, Anthropic's `message_delta`, Gemini's last chunk). Earlier counts are running
    /// totals (Anthropic's `message_start`, Gemini's chunks), short of what a cut stream is billed.
    public private(set) var usageIsFinal = false
    /// The Responses API's terminal `response` object, verbatim (`ChatCompletionChunk.response`).
    public private(set) var response: JSONValue?
    public private(set) var chunkCount = 0
    /// Chunks that carried text, a refusal or a piece of a tool call.
    public private(set) var outputChunkCount = 0
    /// The last output chunks whose text is only whitespace (0 when the last one had anything
    /// else). A continuation is asked from the text before them and writes them again, so a
    /// partial kept for it leaves them out, text and tokens (`Continuation`).
    public private(set) var trailingBlankChunks = 0
    /// One entry per choice index, in order of first appearance (almost always just one). An
    /// array mutated in place: copying a state out of a dictionary and back would copy the whole
    /// text on every chunk.
    private var choices: [ChoiceState] = []

    struct ChoiceState: Sendable {
        var index: Int
        /// The text: `settled`, then the UTF-8 bytes of the chunks since (`pending`), which
        /// `settle` decodes onto it. Appending each chunk's text to a `String` cost ~400
        /// instructions a chunk; appending its bytes is a copy. Decoding the whole text on
        /// every read instead would make each partial flush as slow as the text is long: a
        /// read settles first (`settleText`), so it decodes only what came since the last.
        /// Each chunk's bytes are whole UTF-8, so `pending` always is.
        var settled = ""
        var pending: [UInt8] = []
        var sawContent = false
        var refusal: String?
        var slots: [ToolSlot] = []
        var lastOpened: Int?
        var finishReason: FinishReason?
        var providerFinishReason: String?
        var reasoning: String?
        var reasoningSignature: String?
        /// The chunks' `logprobs.content` and `logprobs.refusal` entries, concatenated.
        var logprobContent: [JSONValue]?
        var logprobRefusal: [JSONValue]?

        var text: String { pending.isEmpty ? settled : settled + String(decoding: pending, as: UTF8.self) }

        mutating func settle() {
            guard !pending.isEmpty else { return }
            settled += String(decoding: pending, as: UTF8.self)
            pending.removeAll(keepingCapacity: true)
        }
    }

    struct ToolSlot: Sendable {
        var index: Int
        var id = ""
        var type = "function"
        var name = ""
        var arguments = ""
    }

    public init() {}

    public mutating func add(_ chunk: ChatCompletionChunk) {
        guard var content = chunk.choices.first?.delta.content else { return add(chunk, firstContent: nil) }
        content.withUTF8 { add(chunk, firstContent: $0) }
    }

    /// Adds `chunk` with its first choice's content taken to be the UTF-8 `firstContent` (the
    /// scanners' template path: the same chunk with new text, never built; the text's bytes
    /// straight from the event, never a `String`).
    mutating func add(_ chunk: borrowing ChatCompletionChunk, firstContent: UnsafeBufferPointer<UInt8>?) {
        chunkCount += 1
        if id.isEmpty { id = chunk.id }
        if created == 0 { created = chunk.created }
        if model.isEmpty { model = chunk.model }
        if systemFingerprint == nil { systemFingerprint = chunk.systemFingerprint }
        if let u = chunk.usage { usage = u }
        if let r = chunk.response { response = r }
        // The common chunk, checked not assumed: one choice, already open, with text and nothing
        // else the loop below reads (every event the template paths match). The loop's closure
        // and its checks cost ~190 instructions a chunk more than this (callgrind).
        if let text = firstContent, !text.isEmpty, chunk.choices.count == 1, choices.count == 1 {
            let open = choices[0].index
            if chunk.choices.withUnsafeBufferPointer({ Self.carriesOnlyText($0[0], choice: open) }) {
                outputChunkCount += 1
                trailingBlankChunks = Self.isBlank(text) ? trailingBlankChunks + 1 : 0
                choices[0].pending.append(contentsOf: text)
                choices[0].sawContent = true
                if chunk.usage != nil { usageIsFinal = choices[0].finishReason != nil }
                return
            }
        }
        // Each choice is read in place: a `let` of it copied every field (a retain and a release
        // each, ~540 instructions a chunk) on every chunk.
        chunk.choices.withUnsafeBufferPointer { incoming in
            for n in incoming.indices {
                if n == 0, (firstContent?.count ?? 0) > 0 || incoming[n].delta.refusal != nil || incoming[n].delta.toolCalls != nil {
                    outputChunkCount += 1
                    let blank = incoming[n].delta.refusal == nil && incoming[n].delta.toolCalls == nil && Self.isBlank(firstContent)
                    trailingBlankChunks = blank ? trailingBlankChunks + 1 : 0
                }
                let k: Int
                if let found = choices.firstIndex(where: { $0.index == incoming[n].index }) {
                    k = found
                } else {
                    choices.append(ChoiceState(index: incoming[n].index))
                    k = choices.count - 1
                }
                if n == 0 {
                    if let t = firstContent, !t.isEmpty { choices[k].pending.append(contentsOf: t); choices[k].sawContent = true }
                } else if var t = incoming[n].delta.content, !t.isEmpty {
                    t.withUTF8 { choices[k].pending.append(contentsOf: $0) }
                    choices[k].sawContent = true
                }
                if let r = incoming[n].delta.refusal, !r.isEmpty { choices[k].refusal = (choices[k].refusal ?? "") + r }
                if let calls = incoming[n].delta.toolCalls { for call in calls { Self.apply(call, to: &choices[k]) } }
                // Appended in place (never `(x ?? "") + r`, which would copy everything so far per chunk).
                if let r = incoming[n].delta.reasoning, !r.isEmpty {
                    if choices[k].reasoning == nil { choices[k].reasoning = "" }
                    choices[k].reasoning!.append(r)
                }
                if let sig = incoming[n].delta.reasoningSignature { choices[k].reasoningSignature = sig }
                if let l = incoming[n].logprobs {
                    if let items = l["content"]?.arrayValue {
                        if choices[k].logprobContent == nil { choices[k].logprobContent = [] }
                        choices[k].logprobContent!.append(contentsOf: items)
                    }
                    if let items = l["refusal"]?.arrayValue {
                        if choices[k].logprobRefusal == nil { choices[k].logprobRefusal = [] }
                        choices[k].logprobRefusal!.append(contentsOf: items)
                    }
                }
                if let f = incoming[n].finishReason {
                    choices[k].finishReason = f
                    choices[k].providerFinishReason = incoming[n].providerFinishReason
                }
            }
        }
        if chunk.usage != nil { usageIsFinal = choices.contains { $0.finishReason != nil } }
    }

    /// Whether `c` is for the choice with index `choice` and has nothing but (maybe) a role beside
    /// its text: what `add` may fold by appending the text alone.
    @inline(__always)
    private static func carriesOnlyText(_ c: borrowing ChatCompletionChunk.Choice, choice: Int) -> Bool {
        c.index == choice && c.delta.refusal == nil && c.delta.toolCalls == nil && c.delta.reasoning == nil
            && c.delta.reasoningSignature == nil && c.logprobs == nil && c.finishReason == nil
    }

    /// Whether the UTF-8 `bytes` (nil: no text) are only whitespace (as `Continuation` reads
    /// it); stops at the first other scalar. Asked of every chunk: ASCII is read as bytes, the
    /// rest as scalars.
    static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>?) -> Bool {
        guard let bytes else { return true }
        for (i, b) in bytes.enumerated() {
            if b >= 0x80 {
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[i...]), as: UTF8.self).unicodeScalars.allSatisfy(Continuation.isWhitespace)
            }
            guard Continuation.isWhitespace(Unicode.Scalar(b)) else { return false }
        }
        return true
    }

    /// Tool-call fragments are addressed by `index`; servers that omit it are handled by the rule
    /// of wire-formats.md §2.3: a fragment with an `id` opens a new slot, one with neither continues
    /// the most recently opened slot.
    private static func apply(_ call: ChatCompletionChunk.ToolCallDelta, to state: inout ChoiceState) {
        let slotPosition: Int
        if let index = call.index {
            if let p = state.slots.firstIndex(where: { $0.index == index }) {
                slotPosition = p
            } else {
                state.slots.append(ToolSlot(index: index))
                slotPosition = state.slots.count - 1
            }
        } else if call.id != nil && !(state.lastOpened.map { state.slots[$0].id == call.id } ?? false) {
            state.slots.append(ToolSlot(index: (state.slots.map(\.index).max() ?? -1) + 1))
            slotPosition = state.slots.count - 1
        } else if let last = state.lastOpened {
            slotPosition = last
        } else {
            state.slots.append(ToolSlot(index: 0))
            slotPosition = 0
        }
        state.lastOpened = slotPosition
        var slot = state.slots[slotPosition]
        if let v = call.id, slot.id.isEmpty { slot.id = v }
        if let v = call.type, !v.isEmpty { slot.type = v }
        if let v = call.name, slot.name.isEmpty { slot.name = v }
        if let v = call.arguments { slot.arguments += v }
        state.slots[slotPosition] = slot
    }

    /// The first choice's text so far.
    public var text: String { firstPosition.map { choices[$0].text } ?? "" }

    /// Decodes the text received since the last call onto the text before it, so that reading
    /// `text` next costs nothing but the copy's reference. Callers that read the text again and
    /// again (the partial flusher, a loop over `ChatCompletionStream.text`) settle first.
    public mutating func settleText() {
        for k in choices.indices { choices[k].settle() }
    }

    /// Every choice's text so far, in index order, when the answer has more than one choice
    /// (`n > 1`); nil for one.
    public var textsOfEveryChoice: [String]? {
        guard choices.count > 1 else { return nil }
        return choices.sorted { $0.index < $1.index }.map(\.text)
    }

    /// The first choice's reasoning so far (nil when none came).
    public var reasoning: String? { firstPosition.flatMap { choices[$0].reasoning } }

    /// Where the first choice is in `choices`: index 0, else the first to appear. A position, not
    /// the state: copying a `ChoiceState` out retains each of its strings and arrays (the flusher
    /// reads `text` of every stream on every flush).
    private var firstPosition: Int? { choices.firstIndex { $0.index == 0 } ?? (choices.isEmpty ? nil : 0) }

    /// The first choice's tool calls so far (arguments may still be incomplete JSON).
    public var toolCalls: [ToolCall] { Self.calls(firstPosition.map { choices[$0].slots } ?? [], responseID: id) }

    /// The first choice's finish reason, once a chunk carried it.
    public var finishReason: FinishReason? { firstPosition.flatMap { choices[$0].finishReason } }

    /// Whether any choice has ended with a finish reason.
    public var hasFinished: Bool { choices.contains { $0.finishReason != nil } }

    private static func calls(_ slots: [ToolSlot], responseID: String) -> [ToolCall] {
        slots.sorted { $0.index < $1.index }.map { s in
            ToolCall(id: s.id.isEmpty ? "call_\(responseID)_\(s.index)" : s.id, type: s.type,
                     function: .init(name: s.name, arguments: s.arguments))
        }
    }

    /// The completion as it stands. A choice that emitted tool calls but reported `stop` reports
    /// `tool_calls`, as OpenAI's own servers do.
    public var completion: ChatCompletion {
        let states = choices.isEmpty ? [ChoiceState(index: 0)] : choices.sorted { $0.index < $1.index }
        let built = states.map { s -> ChatCompletion.Choice in
            let index = s.index
            let calls = Self.calls(s.slots, responseID: id)
            var finish = s.finishReason
            if finish == .stop && !calls.isEmpty { finish = .toolCalls }
            let content: String? = s.sawContent ? s.text : (calls.isEmpty ? "" : nil)
            var logprobs: JSONValue?
            if s.logprobContent != nil || s.logprobRefusal != nil {
                logprobs = ["content": s.logprobContent.map(JSONValue.array) ?? .null, "refusal": s.logprobRefusal.map(JSONValue.array) ?? .null]
            }
            return ChatCompletion.Choice(
                index: index,
                message: .init(content: content, refusal: s.refusal, toolCalls: calls.isEmpty ? nil : calls, reasoning: s.reasoning,
                               reasoningSignature: s.reasoningSignature),
                finishReason: finish, providerFinishReason: s.providerFinishReason, logprobs: logprobs)
        }
        var completion = ChatCompletion(id: id, created: created, model: model, systemFingerprint: systemFingerprint,
                                        choices: built, usage: usage)
        completion.response = response
        return completion
    }
}
