#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When a stream's output arrived: the first and last output, and the gaps between outputs in a
/// small fixed histogram. Updated once per network read that carried output (never per chunk, never
/// a row per chunk), so a stream's timing costs one clock read and a few additions per read.
///
/// A gap is the time between two reads that carried output; chunks that arrive in the same read
/// are one arrival (what a reader of the stream waits for).
public struct StreamTimings: Sendable {
    /// When the first and the latest output arrived (unix seconds).
    public private(set) var firstOutputAt: Double?
    public private(set) var lastOutputAt: Double?
    public private(set) var gaps = GapHistogram()

    public init() {}

    /// An output arrival at `t` (unix seconds).
    mutating func output(at t: Double) {
        if let last = lastOutputAt { gaps.record(seconds: t - last) } else { firstOutputAt = t }
        lastOutputAt = t
    }
}

/// Gaps in a fixed histogram of 32 buckets, two per doubling: bucket 0 holds gaps under 1 ms,
/// bucket i (1...31) those from 2^((i-1)/2) ms to 2^(i/2) ms, the last also everything longer
/// (over 46 s). A percentile read from it is the geometric middle of its bucket: within a
/// factor of √2^½ (±19%) of the exact value. The maximum and the count over 1 s are exact.
public struct GapHistogram: Sendable {
    public static let bucketCount = 32
    public private(set) var buckets = [UInt32](repeating: 0, count: bucketCount)
    public private(set) var count = 0
    public private(set) var maxSeconds = 0.0
    /// Gaps longer than one second (a stalling stream).
    public private(set) var overOneSecond = 0

    public init() {}

    public mutating func record(seconds: Double) {
        let s = max(0, seconds)
        count += 1
        if s > maxSeconds { maxSeconds = s }
        if s > 1 { overOneSecond += 1 }
        buckets[Self.bucket(seconds: s)] &+= 1
    }

    static func bucket(seconds: Double) -> Int {
        let ms = seconds * 1000
        guard ms >= 1 else { return 0 }
        return min(bucketCount - 1, 1 + Int((2 * log2(ms)).rounded(.down)))
    }

    /// The gap below which a fraction `p` (0...1) of the gaps fall, in seconds; nil when none.
    public func percentile(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((p * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in buckets.enumerated() {
            seen += Int(n)
            guard seen >= rank else { continue }
            if i == 0 { return min(0.0005, maxSeconds) }
            // The bucket's geometric middle, never above the largest gap seen.
            return min(maxSeconds, pow(2, (Double(i) - 0.5) / 2) / 1000)
        }
        return maxSeconds
    }
}
