import Foundation

/// The Retry-After and rate-limit header parsers: any header values give a finite, non-negative
/// delay or none, never a crash. Input: `name: value` lines.
enum FuzzHeaders {
    static let now = Date(timeIntervalSince1970: 1_764_000_000)

    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        var fields: [(String, String)] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let headers = HTTPHeaders(fields)
        if let delay = RetryHints.retryAfter(headers, now: now), !(delay.isFinite && delay >= 0) {
            fuzzFinding("retry-after delay \(delay)")
        }
        for (_, value) in fields {
            if let d = RetryHints.duration(value), !d.isFinite { fuzzFinding("duration \(value) -> \(d)") }
            if let d = RetryHints.resetSeconds(value, now: now), !d.isFinite { fuzzFinding("reset \(value) -> \(d)") }
        }
        _ = RateLimitInfo(headers: headers, now: now)
    }
}
