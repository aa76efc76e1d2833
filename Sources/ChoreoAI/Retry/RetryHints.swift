import ChoreoHTTP
public import Foundation

/// Reads the retry signals providers put in response headers (wire-formats.md §4.2–4.3, §6.4).
public enum RetryHints {
    /// The longest wait a server can ask for: 15 minutes. Every duration read from a response
    /// (`retry-after`, `retry-after-ms`, rate-limit resets, Gemini's `retryDelay`) is clamped to it,
    /// so `1e308`, `inf` or a date in 2099 can neither overflow a timer nor pause a provider for years.
    public static let maxWait: Double = 900

    /// A duration a server sent, made safe: NaN and negative values are no hint (nil: the caller's
    /// own backoff applies); anything above `maxWait`, infinity included, is `maxWait`.
    public static func serverWait(_ seconds: Double?) -> Double? {
        guard let seconds, !seconds.isNaN, seconds >= 0 else { return nil }
        return min(seconds, maxWait)
    }

    /// Seconds to wait per `retry-after-ms` (checked first), then `retry-after` (seconds or an HTTP date).
    public static func retryAfter(_ headers: HeaderFields, now: Date = Date()) -> Double? {
        if let ms = headers["retry-after-ms"].flatMap(Double.init), let seconds = serverWait(ms / 1000) { return seconds }
        guard let value = headers["retry-after"]?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let number = Double(value) { return serverWait(number) }
        // An HTTP date is printable ASCII (RFC 9110 IMF-fixdate, 29 characters). Anything else never
        // reaches DateFormatter, which traps on some non-ASCII text (found by fuzzing: a hostile
        // header could kill the runner).
        guard value.utf8.count <= 64, value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = f.date(from: value) { return serverWait(max(0, date.timeIntervalSince(now))) }
        return nil
    }

    /// A Go-style duration (`1s`, `17.965s`, `6m0s`, `1h2m3s`, `250ms`) or Gemini's `"27s"`, in seconds.
    /// Not clamped (it also reads `--deadline`): pass a server's through `serverWait`.
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
            else if rest.hasPrefix("d") { total += value * 86_400; i = text.index(after: i) }
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

    /// Seconds until an RFC 3339 timestamp (Anthropic's reset headers), or a duration; at most `maxWait`.
    public static func resetSeconds(_ text: String, now: Date = Date()) -> Double? {
        if let d = duration(text) { return serverWait(d) }
        guard let date = (try? internetTime.parse(text)) ?? (try? internetTimeFractional.parse(text)) else { return nil }
        return serverWait(max(0, date.timeIntervalSince(now)))
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

    public init(headers: HeaderFields, now: Date = Date()) {
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
