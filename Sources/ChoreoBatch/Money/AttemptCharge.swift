public import ChoreoAI
import ChoreoSQLite

/// What one attempt was billed: the provider's final usage, or an estimate when a cut stream
/// never said (marked as such), and its cost in USD (nil: the model has no price).
///
/// An estimate is the most the provider can have billed, not a midpoint: the prompt at its
/// upper bound (or as reported, when a running count arrived), the output at the request's
/// `max_tokens` (the provider may have generated more than reached us before the cut), priced at
/// the dearest prompt rate. So a budget holds across runs, which add up these costs.
public struct AttemptCharge: Sendable, Hashable {
    public var usage: CompletionUsage
    public var estimated: Bool
    public var costUSD: Double?

    public init(usage: CompletionUsage, estimated: Bool, costUSD: Double?) {
        self.usage = usage
        self.estimated = estimated
        self.costUSD = costUSD
    }

    /// Nothing billed: the request got an error status, or no answer at all.
    public static let none = AttemptCharge(usage: CompletionUsage(promptTokens: 0, completionTokens: 0), estimated: false, costUSD: 0)

    /// The charge of an attempt that sent `body` to `provider` for `model`. `stream` is nil when no
    /// answer began (an error status, a connection that failed): providers bill nothing then.
    /// The text this stream received (its UTF-8 length bounds the tokens it took) is the
    /// attempt's own output: a continuation's kept text is not in it.
    public static func of(stream: ChatCompletionStream?, bounds: RequestBounds, model: String, prices: PriceTable) -> AttemptCharge {
        guard let stream, stream.head.map({ (200..<300).contains($0.status) }) ?? true else { return .none }
        let (reported, isFinal) = stream.usageSoFar
        return of(reported: reported, isFinal: isFinal, bounds: bounds, model: model, receivedBytes: stream.text.utf8.count, prices: prices)
    }

    /// The rule itself, on plain values (tests).
    static func of(reported: CompletionUsage?, isFinal: Bool, bounds: RequestBounds, model: String,
                   receivedBytes: Int, prices: PriceTable) -> AttemptCharge {
        let price = prices.price(for: model)
        if let reported, isFinal {
            return AttemptCharge(usage: reported, estimated: false, costUSD: reported.promptTokens + reported.completionTokens == 0 ? 0 : price?.cost(reported))
        }
        let prompt = reported?.promptTokens ?? bounds.promptTokens
        let completion = bounds.completionTokens ?? max(receivedBytes, reported?.completionTokens ?? 0)
        let usage = CompletionUsage(promptTokens: prompt, completionTokens: completion)
        return AttemptCharge(usage: usage, estimated: true, costUSD: price?.worstCase(promptTokens: prompt, completionTokens: completion))
    }

    /// The charge's columns of `attempts`, in the order of `values`.
    static let columns = ["prompt_tokens", "cached_prompt_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens",
                          "usage_estimated", "cost_usd"]

    /// Assignments of an `UPDATE attempts` that write a charge on the attempt row unless it has one
    /// (`prompt_tokens` set), bound to `values`. The `attempts_keep_costs` trigger adds it to the
    /// job's cost and the batch's per-model totals (schema v6). Part of the statement that ends
    /// the attempt (`JobQueue.writeAttemptEnd`): a second UPDATE of the same row cost every job a
    /// statement more.
    static let assignments = columns.map { "\($0) = CASE WHEN prompt_tokens IS NULL THEN ? ELSE \($0) END" }.joined(separator: ", ")

    var values: [SQLValue] {
        [.init(usage.promptTokens), .init(usage.cachedPromptTokens), .init(usage.cacheWriteTokens), .init(usage.completionTokens),
         .init(usage.reasoningTokens), .init(estimated), .init(costUSD)]
    }
}

/// Upper bounds on a request's tokens, known before it is sent: what a budget reserves, and what
/// a cut attempt that never reported its usage is charged.
public struct RequestBounds: Sendable, Hashable {
    public var promptTokens: Int
    /// nil: the request sets no output budget and its provider has no default.
    public var completionTokens: Int?

    /// `requestBytes`: the UTF-8 length of the request's JSON (the runner has it without printing
    /// the body again: the stored request plus the kept text a continuation adds).
    public init(requestBytes: Int, body: JSONValue, provider: ProviderKind) {
        promptTokens = requestBytes
        completionTokens = Self.completionTokens(body, provider: provider)
    }

    /// The bounds of an embeddings request of `requestBytes`: no output tokens at all.
    public init(embeddingsRequestBytes requestBytes: Int) {
        promptTokens = requestBytes
        completionTokens = 0
    }

    public init(_ body: JSONValue, provider: ProviderKind) {
        self.init(requestBytes: Self.promptTokens(body), body: body, provider: provider)
    }

    /// The prompt can take at most one token per UTF-8 byte of the request's JSON (byte-level BPE
    /// and SentencePiece with byte fallback never make a token of less than a byte; the JSON's
    /// quotes, keys and braces outweigh the few tokens a chat template adds per message).
    public static func promptTokens(_ body: JSONValue) -> Int { body.jsonString.utf8.count }

    /// The output budget: `max_completion_tokens` or `max_tokens` (a Responses body's
    /// `max_output_tokens`), or for Anthropic the default Choreo sends. nil when the request sets
    /// none (OpenAI and Gemini have no fixed default).
    public static func completionTokens(_ body: JSONValue, provider: ProviderKind) -> Int? {
        if let m = body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue ?? body["max_output_tokens"]?.intValue {
            return max(0, m)
        }
        return provider == .anthropic ? AnthropicWire.defaultMaxTokens : nil
    }
}
