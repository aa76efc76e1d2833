/// Why a choice stopped, normalised to OpenAI's values (`stop`, `length`, `tool_calls`,
/// `content_filter`). Compares equal to a string literal, as the Python SDK's string does:
/// `if chunk.choices[0].finishReason == "length" { ... }`.
public struct FinishReason: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let stop: FinishReason = "stop"
    public static let length: FinishReason = "length"
    public static let toolCalls: FinishReason = "tool_calls"
    public static let contentFilter: FinishReason = "content_filter"
    /// The provider ended the choice for a reason that is an error (Gemini `MALFORMED_FUNCTION_CALL`, …).
    public static let error: FinishReason = "error"
}

/// Maps providers' raw stop reasons to `FinishReason` (wire-formats.md §9).
public enum FinishReasonMap {
    public static func openAI(_ raw: String) -> FinishReason {
        raw == "function_call" ? .toolCalls : FinishReason(rawValue: raw)
    }

    public static func anthropic(_ raw: String) -> FinishReason {
        switch raw {
        case "end_turn", "stop_sequence", "pause_turn": return .stop
        case "max_tokens", "model_context_window_exceeded": return .length
        case "tool_use": return .toolCalls
        case "refusal": return .contentFilter
        default: return .error
        }
    }

    public static func gemini(_ raw: String, hasFunctionCall: Bool) -> FinishReason {
        switch raw {
        case "STOP": return hasFunctionCall ? .toolCalls : .stop
        case "MAX_TOKENS": return .length
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
            "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
            return .contentFilter
        default: return .error
        }
    }
}
