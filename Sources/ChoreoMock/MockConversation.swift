/// A chat request as the mock understands it, whatever provider shape it arrived in.
struct MockConversation: Sendable {
    var model: String
    /// OpenAI-shaped messages (a provider's top-level system prompt comes first as a `system`
    /// message), without a trailing prefill.
    var messages: [MockJSON]
    /// The text of a trailing assistant message the reply must continue, if the provider and the
    /// request ask for continuation.
    var prefill: String?
    var maxTokens: Int?
    var stream: Bool
    /// OpenAI `stream_options.include_usage`.
    var includeUsage = false
    /// OpenAI `stream_options.include_obfuscation` (on unless the request turns it off, as on
    /// api.openai.com): each chunk carries an `obfuscation` padding string.
    var includeObfuscation = false
    /// A prefill ending in whitespace is a 400 (Anthropic's rule); OpenAI-compatible servers
    /// (llama.cpp, vLLM) accept `continue_final_message` with a trailing space.
    var rejectsTrailingWhitespacePrefill = false
    /// The tool the reply calls, when the request offers tools and allows calling them.
    var toolName: String?
    /// A fault the body asks for (`"mock": {…}`, see `MockBodyFault`).
    var bodyFault: MockBodyFault?
    /// The Responses API's request settings its `response` object repeats (`instructions`,
    /// `tools`, `metadata`, …), as the request gave them.
    var responsesSettings: [String: MockJSON] = [:]
}

/// A fault a request body asks for, in any provider's shape: `"mock": {"fault": KIND, "after": N,
/// "times": T}` strikes after N content chunks on the first T attempts (all when absent);
/// `"after": [N1, N2, …]` strikes attempt k after Nk chunks and spares the attempts past the list
/// (a test walking every pair of cut points: a stream, and the continuation of it). Other keys
/// are ignored, but they make the request another one: attempts are counted per conversation and
/// `mock` object, so one batch can send one conversation with many fault schedules.
struct MockBodyFault: Sendable {
    var kind: MockFault.Kind
    /// Chunks before the fault, per attempt; `repeats`: the one value holds for every attempt.
    var after: [Int]
    var repeats: Bool
    var times: Int?
    /// Hash of the `mock` object, mixed into the request's attempt key.
    var key: UInt64

    static func parse(_ body: MockJSON) throws(MockRejection) -> MockBodyFault? {
        guard let mock = body["mock"], let spec = mock["fault"]?.stringValue else { return nil }
        guard let fault = MockFault(spec: spec) else { throw MockRejection(message: "mock.fault: unknown fault '\(spec)'.") }
        var out = MockBodyFault(kind: fault.kind, after: [fault.afterChunks], repeats: true, times: mock["times"]?.intValue,
                                key: FNV1a.hash(mock.text))
        if let after = mock["after"] {
            if let n = after.intValue {
                out.after = [n]
            } else if let list = after.arrayValue, list.allSatisfy({ ($0.intValue ?? -1) >= 0 }) {
                out.after = list.map { $0.intValue! }
                out.repeats = false
            } else {
                throw MockRejection(message: "mock.after: expected a number of chunks or an array of them.")
            }
        }
        return out
    }

    /// The fault for attempt `attempt` (from 1) of the request, if it gets one.
    func fault(attempt: Int) -> MockFault? {
        if let times, attempt > times { return nil }
        if repeats { return MockFault(kind: kind, afterChunks: after[0]) }
        return attempt <= after.count ? MockFault(kind: kind, afterChunks: after[attempt - 1]) : nil
    }
}

/// A request the mock refuses with a 400 in the provider's error shape.
struct MockRejection: Error, Sendable {
    let message: String
}

/// A tool call the mock makes: always to one tool, with `{"query": "<two words of the reply>"}`.
struct MockToolCall: Sendable {
    var name: String
    var arguments: MockJSON
    /// `arguments` as JSON text, and that text cut into the fragments a stream sends.
    var argumentsText: String
    var fragments: [String]
}

/// What one response carries, before a provider formats it.
struct MockReply: Sendable {
    /// Raw values are OpenAI's `finish_reason` (the mock's canonical shape).
    enum Finish: String, Sendable { case stop, length, toolCalls = "tool_calls" }

    /// Text pieces to send, one per content chunk (OpenAI, Anthropic). After a prefill the first
    /// piece may be the rest of a token the prefill ends inside.
    var pieces: [String]
    var toolCall: MockToolCall?
    var finish: Finish
    var promptTokens: Int
    var completionTokens: Int
    /// Of `promptTokens`, those "read from the prompt cache": the system prompt's words.
    var cachedPromptTokens: Int
    /// Of `completionTokens`, those spent "thinking": `reasoningTokensPerReply` for a model whose
    /// name contains `think`, none for the others. Streams send no reasoning text.
    var reasoningTokens: Int
    static let reasoningTokensPerReply = 8
    /// Identifies the attempt (response ids derive from it).
    var key: UInt64
    var attempt: Int

    var text: String { pieces.joined() }

    /// Computes the reply for `conversation`; throws when a prefill is not a continuation of it.
    init(_ conversation: MockConversation, transcript: MockTranscript, attempt: Int, fixedTokens: Int?) throws(MockRejection) {
        key = transcript.key
        self.attempt = attempt
        promptTokens = transcript.promptWords
        cachedPromptTokens = transcript.systemWords
        reasoningTokens = conversation.model.contains("think") ? Self.reasoningTokensPerReply : 0
        let tokens = transcript.tokens(fixedCount: fixedTokens)
        toolCall = nil
        if conversation.prefill == nil, let name = conversation.toolName {
            toolCall = Self.toolCall(name: name, tokens: tokens, key: key)
            pieces = []
            finish = .toolCalls
        } else {
            // A fresh reply is the continuation of an empty prefill; a fixed length ignores max_tokens.
            let prefill = conversation.prefill ?? ""
            promptTokens += prefill.split(whereSeparator: \.isWhitespace).count
            (pieces, finish) = try Self.continuation(of: tokens, after: prefill, maxTokens: fixedTokens == nil ? conversation.maxTokens : nil,
                                                     rejectingTrailingWhitespace: conversation.rejectsTrailingWhitespacePrefill)
        }
        completionTokens = (toolCall.map { $0.fragments.count } ?? pieces.count) + reasoningTokens
    }

    /// The part of the reply after `prefill`. Tokens that start inside the prefill count as
    /// already produced, so `maxTokens` is the budget left after them: a client that sends
    /// `max_tokens - tokens received` gets the text an uninterrupted request would have.
    static func continuation(of tokens: [String], after prefill: String, maxTokens: Int?,
                             rejectingTrailingWhitespace: Bool = true) throws(MockRejection) -> ([String], Finish) {
        if rejectingTrailingWhitespace, let last = prefill.last, last.isWhitespace {
            throw MockRejection(message: "messages: final assistant content cannot end with trailing whitespace")
        }
        let p = Array(prefill.utf8)
        var covered = 0  // tokens that start inside the prefill
        var offset = 0  // byte offset where token `covered` starts
        var matched = 0  // bytes of the prefill matched so far
        while matched < p.count && covered < tokens.count {
            let t = Array(tokens[covered].utf8)
            let n = min(t.count, p.count - matched)
            guard t[..<n].elementsEqual(p[matched..<(matched + n)]) else { break }
            matched += n
            offset += t.count
            covered += 1
        }
        guard matched == p.count else {
            throw MockRejection(message: "prefill does not match: the final assistant message is not a prefix of the mock's reply to this conversation")
        }
        var pieces: [String] = []
        let coveredBytes = tokens[..<covered].reduce(0) { $0 + $1.utf8.count }
        if coveredBytes > p.count {
            let last = Array(tokens[covered - 1].utf8)
            pieces.append(String(decoding: last[(last.count - (coveredBytes - p.count))...], as: UTF8.self))
        }
        let end = maxTokens.map { min(tokens.count, covered + max(0, $0)) } ?? tokens.count
        pieces += tokens[covered..<end]
        return (pieces, end < tokens.count ? .length : .stop)
    }

    /// A call to `name` with two words of the reply as its query, cut into 3 or 4 fragments at
    /// character boundaries (the cuts fall inside the JSON, as real streams do).
    static func toolCall(name: String, tokens: [String], key: UInt64) -> MockToolCall {
        let words = tokens.map { $0.filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
        let arguments: MockJSON = ["query": .string(words.prefix(2).joined(separator: " "))]
        let text = arguments.text
        let scalars = Array(text.unicodeScalars)
        let count = 3 + Int(key & 1)
        var fragments: [String] = []
        for i in 0..<count {
            let range = (scalars.count * i / count)..<(scalars.count * (i + 1) / count)
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[range])
            fragments.append(String(s))
        }
        return MockToolCall(name: name, arguments: arguments, argumentsText: text, fragments: fragments)
    }
}
