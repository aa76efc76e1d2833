/// The mock's deterministic "model": what it answers is a pure function of the model name and the
/// conversation, so a test can compute the expected reply without a server.
///
/// Replies are 12…60 tokens. Each token is a word with a leading space (the first has none), a
/// lone `"\n"` / `"\n\n"`, or a lone `" "` before one of those; the vocabulary mixes ASCII with
/// accented letters, CJK, emoji (one of them several scalars long) and JSON-hostile characters,
/// so UTF-8, newline and escaping bugs in a client change the text a test compares.
///
/// The conversation is normalised first (see `MockTranscript`), so the same OpenAI-shaped job sent
/// through the Anthropic or Gemini endpoint gets the same reply.
public enum MockContent {
    /// The full reply the mock produces for a request, before any max_tokens cut: tokens whose
    /// concatenation is the text.
    ///
    /// `messagesJSON` is the JSON text of the messages array, in any provider's shape (the mock
    /// reads it with its own parser; ChoreoTesting has an overload taking ChoreoAI's values).
    public static func tokens(model: String, messagesJSON: String) -> [String] {
        guard let messages = MockJSON(parsing: messagesJSON.utf8)?.arrayValue else {
            preconditionFailure("MockContent: messagesJSON is not a JSON array: \(messagesJSON.prefix(80))")
        }
        return MockTranscript(model: model, messages: messages).tokens(fixedCount: nil)
    }

    /// What a complete, fresh (no prefill) streamed response's text is, given max_tokens (nil = no
    /// limit); and its finish reason ("stop" or "length").
    public static func reply(model: String, messagesJSON: String, maxTokens: Int?) -> (text: String, finishReason: String) {
        let all = tokens(model: model, messagesJSON: messagesJSON)
        if let maxTokens, maxTokens < all.count {
            return (all.prefix(max(0, maxTokens)).joined(), "length")
        }
        return (all.joined(), "stop")
    }

    /// The reply's words: plain ASCII, accents, non-Latin scripts, emoji, and characters that must
    /// be escaped in JSON (`"` and `\`).
    static let vocabulary: [String] = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "river", "stone",
        "light", "moon", "Phobos", "Deimos", "orbit", "signal", "batch", "stream", "token", "answer",
        "naïve", "Grüße", "日本語", "café", "🎵", "Ωmega", "señor", "Ångström", "façade", "жизнь",
        "λόγος", "中文", "한국어", "👩🏽‍🚀", "€42", "x²", "“curly”", "Zürich", "déjà", "vu",
        "\"quoted\"", "back\\slash", "ünïcödé", "<tag>", "a&b", "50%", "{brace}", "[list]", "coöperate", "résumé",
        "and", "of", "to", "in", "is", "it", "was", "for", "on", "with",
    ]
}

/// A conversation reduced to what decides the reply: the model and, per turn, the role and the
/// words of its text. Roles are normalised (`developer` → `system`, `model` → `assistant`,
/// `tool` → `user`), all system text goes first, consecutive turns of one role merge, and words
/// are compared without their spacing — so differences in how a client joins system prompts or
/// maps tool turns between providers do not change the reply.
struct MockTranscript {
    let model: String
    /// `[[role, words joined by one space], …]`.
    let turns: [(role: String, text: String)]
    /// Hash of model + turns: seeds the reply and identifies the request across retries.
    let key: UInt64
    /// Whitespace-separated words in all turns: the mock's prompt token count.
    let promptWords: Int
    /// Words of the system turn: the mock's cached prompt tokens (a real prompt cache serves the
    /// prefix a batch's requests share, which is mostly the system prompt).
    let systemWords: Int

    init(model: String, messages: [MockJSON]) {
        self.model = model
        var system: [Substring] = []
        var turns: [(role: String, words: [Substring])] = []
        for message in messages {
            let role = Self.normalisedRole(message["role"]?.stringValue ?? "user")
            let words = Self.text(of: message).split(whereSeparator: \.isWhitespace)
            if words.isEmpty { continue }
            if role == "system" {
                system += words
            } else if let last = turns.last, last.role == role {
                turns[turns.count - 1].words += words
            } else {
                turns.append((role, words))
            }
        }
        if !system.isEmpty { turns.insert(("system", system), at: 0) }
        self.turns = turns.map { ($0.role, $0.words.joined(separator: " ")) }
        self.promptWords = turns.reduce(0) { $0 + $1.words.count }
        self.systemWords = system.count
        let canonical = MockJSON.array(self.turns.map { .array([.string($0.role), .string($0.text)]) }).text
        self.key = FNV1a.hash(model + "\u{0}" + canonical)
    }

    /// The reply's tokens: the natural 12…60, or exactly `fixedCount`. The first `n` tokens are the
    /// same whatever the count, so a fixed count only extends or cuts the natural reply.
    func tokens(fixedCount: Int?) -> [String] {
        var rng = MockRandom(seed: key)
        let natural = 12 + rng.below(49)
        let count = fixedCount ?? natural
        var out: [String] = []
        out.reserveCapacity(count)
        var previousWasNewline = true  // no newline first, and never two in a row
        var pendingNewline: String?  // the newline after a lone " " token
        for i in 0..<count {
            if let newline = pendingNewline {
                out.append(newline)
                pendingNewline = nil
                previousWasNewline = true
                continue
            }
            // The natural reply never ends on a newline (a prefill must not end in whitespace).
            if !previousWasNewline && i != natural - 1 && rng.below(12) == 0 {
                // Half of the line breaks come after a space of their own, as models write them:
                // whitespace that takes two tokens, which a continuation writes again and may be
                // cut inside (issue 12.7).
                let kind = rng.below(4)
                let newline = kind % 2 == 0 ? "\n" : "\n\n"
                if kind >= 2 && i != natural - 2 {
                    out.append(" ")
                    pendingNewline = newline
                    continue
                }
                out.append(newline)
                previousWasNewline = true
                continue
            }
            let word = MockContent.vocabulary[rng.below(MockContent.vocabulary.count)]
            out.append(i == 0 || previousWasNewline ? word : " " + word)
            previousWasNewline = false
        }
        return out
    }

    static func normalisedRole(_ role: String) -> String {
        switch role {
        case "developer", "system": return "system"
        case "model", "assistant": return "assistant"
        case "tool", "function": return "user"
        default: return role
        }
    }

    /// The text of one message in any of the three providers' shapes: OpenAI `content` (string or
    /// parts) and `tool_calls`, Anthropic content blocks, Gemini `parts`.
    static func text(of message: MockJSON) -> String {
        var out: [String] = []
        if let content = message["content"] { out.append(text(ofContent: content)) }
        if let parts = message["parts"]?.arrayValue { out += parts.map(text(ofContent:)) }
        for call in message["tool_calls"]?.arrayValue ?? [] {
            let name = call["function"]?["name"]?.stringValue ?? ""
            let arguments = call["function"]?["arguments"]?.stringValue ?? ""
            let canonical = MockJSON(parsing: arguments.utf8)?.text ?? arguments
            out.append(name + " " + canonical)
        }
        return out.joined(separator: " ")
    }

    /// Text of a content value: a string, an array of parts or blocks, or one part.
    static func text(ofContent content: MockJSON) -> String {
        switch content {
        case .string(let s): return s
        case .array(let parts): return parts.map(text(ofContent:)).joined(separator: " ")
        case .object:
            if let text = content["text"]?.stringValue { return text }
            switch content["type"]?.stringValue {
            case "tool_use": return (content["name"]?.stringValue ?? "") + " " + (content["input"] ?? .object([:])).text
            case "tool_result": return content["content"].map(text(ofContent:)) ?? ""
            default: break
            }
            if let call = content["functionCall"] {
                return (call["name"]?.stringValue ?? "") + " " + (call["args"] ?? .object([:])).text
            }
            if let response = content["functionResponse"] {
                return (response["response"] ?? .object([:])).text
            }
            return ""
        default: return ""
        }
    }
}
