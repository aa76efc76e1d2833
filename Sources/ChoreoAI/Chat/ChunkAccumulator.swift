/// Folds a chunk stream into the final `ChatCompletion` (wire-formats.md §3) and exposes what has
/// arrived so far at any moment (`text`, `toolCalls`), which is what a recovery needs.
public struct ChunkAccumulator: Sendable {
    public private(set) var id = ""
    public private(set) var created = 0
    public private(set) var model = ""
    public private(set) var systemFingerprint: String?
    /// Cumulative usage: the last value reported wins (providers report running totals).
    public private(set) var usage: Usage?
    public private(set) var chunkCount = 0
    private var choices: [Int: ChoiceState] = [:]

    struct ChoiceState: Sendable {
        var content = ""
        var sawContent = false
        var refusal: String?
        var slots: [ToolSlot] = []
        var lastOpened: Int?
        var finishReason: FinishReason?
        var providerFinishReason: String?
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
        chunkCount += 1
        if id.isEmpty { id = chunk.id }
        if created == 0 { created = chunk.created }
        if model.isEmpty { model = chunk.model }
        if systemFingerprint == nil { systemFingerprint = chunk.systemFingerprint }
        if let u = chunk.usage { usage = u }
        for c in chunk.choices {
            var state = choices[c.index] ?? ChoiceState()
            if let t = c.delta.content, !t.isEmpty { state.content += t; state.sawContent = true }
            if let r = c.delta.refusal, !r.isEmpty { state.refusal = (state.refusal ?? "") + r }
            if let calls = c.delta.toolCalls { for call in calls { Self.apply(call, to: &state) } }
            if let f = c.finishReason {
                state.finishReason = f
                state.providerFinishReason = c.providerFinishReason
            }
            choices[c.index] = state
        }
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
    public var text: String { choices[0]?.content ?? "" }

    /// The first choice's tool calls so far (arguments may still be incomplete JSON).
    public var toolCalls: [ToolCall] { Self.calls(choices[0]?.slots ?? [], responseID: id) }

    /// The first choice's finish reason, once a chunk carried it.
    public var finishReason: FinishReason? { choices[0]?.finishReason }

    /// Whether any choice has ended with a finish reason.
    public var hasFinished: Bool { choices.values.contains { $0.finishReason != nil } }

    private static func calls(_ slots: [ToolSlot], responseID: String) -> [ToolCall] {
        slots.sorted { $0.index < $1.index }.map { s in
            ToolCall(id: s.id.isEmpty ? "call_\(responseID)_\(s.index)" : s.id, type: s.type,
                     function: .init(name: s.name, arguments: s.arguments))
        }
    }

    /// The completion as it stands. A choice that emitted tool calls but reported `stop` reports
    /// `tool_calls`, as OpenAI's own servers do.
    public var completion: ChatCompletion {
        let indices = choices.keys.sorted()
        let built = (indices.isEmpty ? [0] : indices).map { index -> ChatCompletion.Choice in
            let s = choices[index] ?? ChoiceState()
            let calls = Self.calls(s.slots, responseID: id)
            var finish = s.finishReason
            if finish == .stop && !calls.isEmpty { finish = .toolCalls }
            let content: String? = s.sawContent ? s.content : (calls.isEmpty ? "" : nil)
            return ChatCompletion.Choice(
                index: index,
                message: .init(content: content, refusal: s.refusal, toolCalls: calls.isEmpty ? nil : calls),
                finishReason: finish, providerFinishReason: s.providerFinishReason)
        }
        return ChatCompletion(id: id, created: created, model: model, systemFingerprint: systemFingerprint,
                              choices: built, usage: usage)
    }
}
