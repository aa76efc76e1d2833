import ChoreoHTTP

/// The provider answered with an HTTP error status. Carries the provider's own error body
/// decoded (type, code, message) and the retry hints of the response headers.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public let status: Int
    /// The provider's error type (`rate_limit_error`, `invalid_request_error`, `RESOURCE_EXHAUSTED`, …).
    public let type: String?
    /// The provider's error code (`rate_limit_exceeded`, `insufficient_quota`, …).
    public let code: String?
    public let message: String
    /// Seconds the server asked us to wait (`retry-after-ms`, `retry-after`, Gemini `RetryInfo`).
    public let retryAfter: Double?
    /// The provider's request id (`x-request-id`, `request-id`), for support tickets.
    public let requestID: String?
    /// Which provider answered (its configured name).
    public let provider: String
    /// The provider's own error object as it sent it, wrapped as the Batch API's
    /// `response.body` (`{"error":{…}}`), key redacted; nil when the body held none. Kept apart
    /// from `type`/`code` so an export shows what the provider said, not Choreo's reading of it.
    public var body: JSONValue?

    public init(status: Int, type: String?, code: String?, message: String, retryAfter: Double?, requestID: String?, provider: String,
                body: JSONValue? = nil) {
        self.body = body
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.requestID = requestID
        self.provider = provider
    }

    public var description: String {
        var s = "\(provider) returned HTTP \(status)"
        if let type { s += " \(type)" }
        if let code, code != type { s += " (\(code))" }
        s += ": \(message)"
        if meansNoAPIHere { s += " \(Self.noAPIHere)" }
        if let retryAfter { s += " [retry after \(retryAfter.formatted2) s]" }
        return s
    }

    /// A 404 that says the URL has no API behind it (a wrong base URL: `/v1` left out, another
    /// server's port), not that something the request names is missing (a model): the body holds
    /// no error object of a provider's (Ollama's `404 page not found`, FastAPI's
    /// `{"detail":"Not Found"}`, a web server's page), or the object is OpenAI's `Invalid URL (POST
    /// …)` or llama.cpp's `File Not Found`. Every request to that provider would get the same.
    public var meansNoAPIHere: Bool {
        guard status == 404 else { return false }
        return body == nil || message.hasPrefix("Invalid URL") || message == "File Not Found"
    }

    /// What an answer that means `meansNoAPIHere` adds to its message.
    static let noAPIHere = "(no API at this URL: is the provider's base URL right?)"

    /// A 429 that refuses the request for good: larger than the account's whole limit per minute
    /// (OpenAI's `Request too large for gpt-4o … on tokens per min (TPM): Limit 30000, Requested
    /// 41234`). Waiting never lets it through; a smaller request or a higher limit does.
    public var isRequestTooLarge: Bool { status == 429 && message.hasPrefix("Request too large") }

    /// The money ran out (OpenAI `insufficient_quota`, spend limits, Anthropic's enforced spend
    /// limit), or a daily quota (`isDailyQuota`): retrying only burns time.
    public var isQuotaExhausted: Bool {
        let markers = ["insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
                       "project_spend_limit_exceeded", "enforced_spend_limit_reached", "billing_error"]
        return markers.contains { $0 == type || $0 == code } || status == 402 || isDailyQuota
    }

    /// Gemini's 429 for a quota per day (a `QuotaFailure` whose violation's `quotaId` is
    /// `GenerateRequestsPerDayPerProjectPerModel-FreeTier` or the like): it says "tomorrow", where
    /// the same 429 for a quota per minute says "in a minute". Its message is the same for both.
    var isDailyQuota: Bool { !dailyQuotaViolations.isEmpty }

    /// Whether the day's quota is one model's (`…PerDayPerProjectPerModel…`, or `quotaDimensions`
    /// naming a model, as Gemini's are): the provider's other models still have theirs.
    var isDailyQuotaPerModel: Bool {
        dailyQuotaViolations.contains { $0["quotaId"]?.stringValue?.contains("PerModel") == true || $0["quotaDimensions"]?["model"] != nil }
    }

    /// The `QuotaFailure` violations of a 429 whose `quotaId` is a quota per day.
    private var dailyQuotaViolations: [JSONValue] {
        guard status == 429, let details = body?["error"]?["details"]?.arrayValue else { return [] }
        return details.flatMap { $0["violations"]?.arrayValue ?? [] }.filter { $0["quotaId"]?.stringValue?.contains("PerDay") == true }
    }
}
