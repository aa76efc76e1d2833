import Foundation

/// Reads the retry signals providers put in response headers (wire-formats.md §4.2–4.3, §6.4).
public enum RetryHints {
    /// Seconds to wait per `retry-after-ms` (checked first), then `retry-after` (seconds or an HTTP date).
    public static func retryAfter(_ headers: HTTPHeaders, now: Date = Date()) -> Double? {
        if let ms = headers["retry-after-ms"].flatMap(Double.init), ms >= 0 { return ms / 1000 }
        guard let value = headers["retry-after"]?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let s = Double(value), s >= 0 { return s }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = f.date(from: value) { return max(0, date.timeIntervalSince(now)) }
        return nil
    }

    /// A Go-style duration (`1s`, `17.965s`, `6m0s`, `1h2m3s`, `250ms`) or Gemini's `"27s"`, in seconds.
    public static func duration(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var i = text.startIndex
        var sawUnit = false
        while i < text.endIndex {
            let c = text[i]
            if c.isNumber || c == "." {
                number.append(c)
                i = text.index(after: i)
                continue
            }
            guard let value = Double(number) else { return nil }
            let rest = text[i...]
            if rest.hasPrefix("ms") { total += value / 1000; i = text.index(i, offsetBy: 2) }
            else if rest.hasPrefix("h") { total += value * 3600; i = text.index(after: i) }
            else if rest.hasPrefix("m") { total += value * 60; i = text.index(after: i) }
            else if rest.hasPrefix("s") { total += value; i = text.index(after: i) }
            else { return nil }
            number = ""
            sawUnit = true
        }
        if !number.isEmpty { return sawUnit ? nil : Double(number) }
        return sawUnit ? total : nil
    }

    /// Seconds until an RFC 3339 timestamp (Anthropic's reset headers), or a duration.
    public static func resetSeconds(_ text: String, now: Date = Date()) -> Double? {
        if let d = duration(text) { return d }
        guard let date = (try? internetTime.parse(text)) ?? (try? internetTimeFractional.parse(text)) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    // Made once: these run on every response that carries rate-limit headers.
    private static let internetTime = Date.ISO8601FormatStyle()
    private static let internetTimeFractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// The rate-limit state a provider reported on a response (OpenAI `x-ratelimit-*`, Anthropic
/// `anthropic-ratelimit-*`). Non-positive limits are treated as unknown (Azure sends -1/0).
public struct RateLimitInfo: Sendable, Hashable {
    public var limitRequests: Int?
    public var remainingRequests: Int?
    public var resetRequests: Double?
    public var limitTokens: Int?
    public var remainingTokens: Int?
    public var resetTokens: Double?

    public init(headers: HTTPHeaders, now: Date = Date()) {
        func int(_ names: String...) -> Int? {
            for n in names { if let v = headers[n].flatMap({ Int($0) }) { return v } }
            return nil
        }
        func reset(_ names: String...) -> Double? {
            for n in names { if let v = headers[n].flatMap({ RetryHints.resetSeconds($0, now: now) }) { return v } }
            return nil
        }
        limitRequests = int("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit").flatMap { $0 > 0 ? $0 : nil }
        remainingRequests = int("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining")
        resetRequests = reset("x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset")
        limitTokens = int("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit").flatMap { $0 > 0 ? $0 : nil }
        remainingTokens = int("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining")
        resetTokens = reset("x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset")
        if limitRequests == nil { remainingRequests = nil }
        if limitTokens == nil { remainingTokens = nil }
    }

    public var isEmpty: Bool { limitRequests == nil && limitTokens == nil && remainingRequests == nil && remainingTokens == nil }
}
