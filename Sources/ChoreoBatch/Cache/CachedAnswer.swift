/// A finished answer the request cache can hand to an identical job: what the job that paid for
/// it stored, and where it came from.
public struct CachedAnswer: Sendable, Equatable {
    /// The text (nil for embeddings, whose answer is `embedding`).
    public var output: String?
    /// JSON text of the OpenAI `tool_calls` array.
    public var toolCalls: String?
    public var finishReason: String?
    public var providerFinishReason: String?
    /// JSON text of the `chat.completion` object (its `usage` is the original answer's).
    public var response: String
    public var reasoning: String?
    public var requestID: String?
    /// `<batch>/<custom_id>` of the job that paid for the answer, prefixed by the cache file
    /// (`shared.sqlite: b_…/q1`) when it came from a shared one (`jobs.cached_from`).
    public var source: String
    /// What the answer cost its job (nil: unknown), which the reuse saves.
    public var costUSD: Double?
    /// An embeddings answer's vectors (`jobs.embedding`: packed little-endian float32) and their width.
    public var embedding: [UInt8]? = nil
    public var dimensions: Int? = nil

    public init(output: String?, toolCalls: String? = nil, finishReason: String?, providerFinishReason: String? = nil,
                response: String, reasoning: String? = nil, requestID: String? = nil, source: String, costUSD: Double? = nil) {
        self.output = output
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.providerFinishReason = providerFinishReason
        self.response = response
        self.reasoning = reasoning
        self.requestID = requestID
        self.source = source
        self.costUSD = costUSD
    }

    /// The finish reasons of answers the cache reuses: complete ones. A `length` answer was cut by
    /// `max_tokens`, and a failed or interrupted one is not an answer.
    public static let reusableFinishReasons = ["stop", "tool_calls"]
    /// `reusableFinishReasons` as an SQL list: `finish_reason IN \(sqlList)`.
    static let reusableSQL = "(" + reusableFinishReasons.map { "'\($0)'" }.joined(separator: ", ") + ")"
    /// The jobs whose answer the cache reuses, as an SQL condition on `jobs` (alias `j.` or none):
    /// complete text answers, and embeddings (their vectors are complete or absent).
    static func reusableAnswerSQL(_ alias: String = "") -> String {
        "((\(alias)finish_reason IN \(reusableSQL) AND \(alias)output IS NOT NULL) OR \(alias)embedding IS NOT NULL)"
    }
}

/// How a cached run claims (`JobStore.claim`): one job per request key at a time, so that
/// identical requests run once and the rest are answered from the cache.
public struct DistinctRequests: Sendable {
    /// Keys of requests that sample count too (`--cache-sampled`); else such jobs run side by side.
    public var includingSampled: Bool

    public init(includingSampled: Bool) { self.includingSampled = includingSampled }
}
