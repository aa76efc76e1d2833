/// A failure the mock injects into one attempt, the way real providers fail.
public struct MockFault: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Send `afterChunks` content chunks, then close the connection without the terminator.
        case drop
        /// 429 with `retry-after-ms`/`retry-after` and the provider's rate-limit error body.
        case rateLimit = "429"
        /// 500 with the provider's server-error body.
        case serverError = "500"
        /// 503 (Anthropic: 529 `overloaded_error`).
        case overloaded = "503"
        /// Send `afterChunks` content chunks, then nothing, keeping the connection open until the
        /// client gives up.
        case stall
        /// Send `afterChunks` content chunks, then `data: {"id": broken` and close.
        case malformed
        /// 429 that must not be retried: OpenAI `insufficient_quota`, Anthropic
        /// `enforced_spend_limit_reached`, Gemini quota `RESOURCE_EXHAUSTED`.
        case quota
        /// Send the whole answer and its final usage, then close the connection without the
        /// terminator (OpenAI `[DONE]`, Anthropic `message_stop`): a stream cut after the provider
        /// said what it bills. Gemini streams end with their usage, so theirs complete.
        case cutAfterUsage = "cut"
    }

    public var kind: Kind
    /// Content chunks sent before the fault (stream faults only; HTTP-status faults ignore it).
    public var afterChunks: Int

    public init(kind: Kind, afterChunks: Int = 0) {
        self.kind = kind
        self.afterChunks = afterChunks
    }

    /// Parses `KIND[:AFTER]` as in the `x-mock-fault` header (`drop:3`, `429`, `stall:2`).
    /// Kinds are the raw values, plus the case names (`rateLimit`, `serverError`, `overloaded`).
    public init?(spec: String) {
        let parts = spec.split(separator: ":", maxSplits: 1).map { $0.filter { !$0.isWhitespace } }
        guard let name = parts.first, let kind = Kind(name: name) else { return nil }
        var after = 0
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0 else { return nil }
            after = n
        }
        self.init(kind: kind, afterChunks: after)
    }

    /// Whether the fault is an HTTP error status rather than a broken stream.
    var isStatus: Bool {
        switch kind {
        case .rateLimit, .serverError, .overloaded, .quota: return true
        case .drop, .stall, .malformed, .cutAfterUsage: return false
        }
    }
}

extension MockFault.Kind {
    /// A kind by raw value (`429`) or case name (`rateLimit`), case-insensitively.
    public init?(name: String) {
        let lower = name.lowercased()
        guard let kind = Self.allCases.first(where: { $0.rawValue.lowercased() == lower || "\($0)".lowercased() == lower })
        else { return nil }
        self = kind
    }
}
