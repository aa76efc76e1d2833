import ArgumentParser
import ChoreoAI
import Foundation

/// A length of time on the command line, in seconds: plain (`90`, `2.5`) or with units (`90s`,
/// `10m`, `1h30m`, `500ms`). Every option that takes one takes both forms, so `--timeout 10m`
/// works as `--outage-limit 15m` does (`transform: Seconds.parse`).
struct Seconds: Sendable {
    let value: Double

    init(_ value: Double) { self.value = value }

    @Sendable static func parse(_ text: String) throws -> Seconds {
        guard let seconds = RetryHints.duration(text), seconds.isFinite else {
            throw ValidationError("expected a length of time such as 90, 90s, 10m or 1h30m")
        }
        return Seconds(seconds)
    }
}
