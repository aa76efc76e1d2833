import ArgumentParser
import ChoreoAI

/// A length of time on the command line: plain seconds (`90`, `2.5`) or with units (`90s`,
/// `10m`, `1h30m`, `500ms`). Every option of `run` that takes one reads it with `seconds`
/// (`transform: TimeArgument.seconds`), so `--timeout 10m` works as `--outage-limit 15m` does.
enum TimeArgument {
    @Sendable static func seconds(_ text: String) throws -> Double {
        guard let seconds = RetryHints.duration(text), seconds.isFinite else {
            throw ValidationError("expected a length of time such as 90, 90s, 10m or 1h30m")
        }
        return seconds
    }
}
