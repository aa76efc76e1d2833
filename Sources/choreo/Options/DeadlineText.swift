import ChoreoAI
import Foundation

/// What `--deadline` accepts, and the moment it means:
/// - a duration from now: `90s`, `45m`, `1h30m`;
/// - a clock time, the next one to come on the local clock: `06:30`, `23:59:30` (a cron job
///   started at 22:00 with `--deadline 06:30` stops starting jobs in time to end by 06:30 the
///   next morning);
/// - a date and time in ISO 8601: `2026-12-04T06:30`, with seconds, fractions and a zone (`Z`,
///   `+01:00`) if wanted; local time without a zone, and a space may stand for the `T`.
enum DeadlineText {
    static let forms = "a duration (90s, 45m, 1h30m), a clock time (06:30, the next one) or a date and time (2026-12-04T06:30, local unless it names its zone)"

    static func parse(_ text: String, now: Date = Date()) -> Date? {
        if text.contains(where: \.isLetter), !text.contains("-"), let seconds = RetryHints.duration(text), seconds > 0 {
            return now.addingTimeInterval(seconds)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        if let match = text.wholeMatch(of: /(\d{1,2}):(\d{2})(?::(\d{2}))?/) {
            guard let hour = Int(match.1), hour < 24, let minute = Int(match.2), minute < 60 else { return nil }
            let second = match.3.flatMap { Int($0) } ?? 0
            guard second < 60 else { return nil }
            return calendar.nextDate(after: now, matching: DateComponents(hour: hour, minute: minute, second: second),
                                     matchingPolicy: .nextTime)
        }
        guard let match = text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?/) else {
            return nil
        }
        var fields = DateComponents(year: Int(match.1), month: Int(match.2), day: Int(match.3),
                                    hour: Int(match.4), minute: Int(match.5), second: match.6.flatMap { Int($0) } ?? 0)
        if let zone = match.8 {
            guard let offset = Self.offsetSeconds(String(zone)), let fixed = TimeZone(secondsFromGMT: offset) else { return nil }
            calendar.timeZone = fixed
        }
        fields.timeZone = calendar.timeZone
        guard let date = calendar.date(from: fields) else { return nil }
        // Out-of-range fields (2026-02-30, 25:00) roll over in `date(from:)`: read back, they differ.
        let back = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        guard back.year == fields.year, back.month == fields.month, back.day == fields.day,
              back.hour == fields.hour, back.minute == fields.minute, (fields.second ?? 0) < 60 else { return nil }
        let fraction = match.7.flatMap { Double("0" + $0) } ?? 0
        return date.addingTimeInterval(fraction)
    }

    /// `Z`, `+01:00`, `-0530` as seconds east of UTC.
    private static func offsetSeconds(_ zone: String) -> Int? {
        if zone == "Z" { return 0 }
        let digits = zone.dropFirst().filter(\.isNumber)
        guard digits.count == 4, let hours = Int(digits.prefix(2)), let minutes = Int(digits.suffix(2)), hours < 24, minutes < 60 else { return nil }
        return (zone.first == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
    }

    /// The moment as the log shows it (the log's own clock and format), and how far off.
    static func describe(_ date: Date, now: Date = Date()) -> String {
        "\(ProgressRenderer.clock(date)) (in \(ProgressRenderer.duration(date.timeIntervalSince(now))))"
    }
}
