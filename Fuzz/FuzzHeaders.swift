import Foundation

/// The Retry-After and rate-limit header parsers: any header values, never a crash. Input:
/// `name: value` lines. (Not checked: that a delay is finite. `retry-after: inf` gives infinity;
/// clamping what to wait for is the callers' rule, RELIABILITY.md "Fuzzing".)
enum FuzzHeaders {
    static let now = Date(timeIntervalSince1970: 1_764_000_000)

    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        var fields: [(String, String)] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let headers = HeaderFields(fields)
        if let delay = RetryHints.retryAfter(headers, now: now), delay < 0 { fuzzFinding("negative retry-after delay \(delay)") }
        for (_, value) in fields {
            _ = RetryHints.duration(value)
            _ = RetryHints.resetSeconds(value, now: now)
        }
        _ = RateLimitInfo(headers: headers, now: now)
    }
}
