import ChoreoBatch
import Foundation
import Synchronization

/// Shows a run to a person or a log shipper: a live line on a terminal; otherwise one log line per
/// interval and one per failure (text or JSON lines). Writes to stderr; never prints a key.
final class ProgressRenderer: Sendable {
    enum Format: String { case text, json }

    private let format: Format
    private let quiet: Bool
    private let isTerminal: Bool
    private let lineShown = Mutex(false)
    private let lock = Mutex(())

    init(format: Format, quiet: Bool) {
        self.format = format
        self.quiet = quiet
        self.isTerminal = isatty(2) == 1 && format == .text
    }

    /// Log lines go through here.
    func record(_ r: RunEvents.Record) {
        if quiet && r.level != .error { return }
        switch format {
        case .json:
            var o: [String: Any] = ["time": ISO8601DateFormatter().string(from: r.time), "level": r.level.rawValue, "message": r.message]
            if let j = r.job { o["job"] = j }
            if let k = r.kind { o["kind"] = k }
            write(jsonLine(o))
        case .text:
            var line = "\(Self.clock(r.time)) \(r.level.rawValue.uppercased())"
            if let j = r.job { line += " job=\(j)" }
            if let k = r.kind { line += " kind=\(k)" }
            line += " \(r.message)"
            if isTerminal { clearLine() }
            write(line + "\n")
        }
    }

    /// Redraws the live line (terminal) or writes a progress log line.
    func progress(_ s: RunEvents.Snapshot, final: Bool = false) {
        if quiet && !final { return }
        switch format {
        case .json:
            var o: [String: Any] = ["time": ISO8601DateFormatter().string(from: Date()), "level": "info", "event": final ? "summary" : "progress",
                                    "done": s.done, "total": s.total, "in_flight": s.inFlight, "succeeded": s.succeeded,
                                    "failed": s.failed, "cancelled": s.cancelled, "retries": s.retries, "completion_tokens": s.completionTokens,
                                    "tokens_per_second": (s.tokensPerSecond * 10).rounded() / 10, "elapsed_seconds": Int(s.elapsed)]
            if let eta = s.eta { o["eta_seconds"] = Int(eta) }
            let outages = s.outages.values.filter { !$0.gaveUp }.sorted { $0.provider < $1.provider }
            if !outages.isEmpty {
                o["unreachable"] = outages.map { u -> [String: Any] in
                    var e: [String: Any] = ["provider": u.provider, "reason": u.reason, "origin": u.origin,
                                            "seconds": Int(Date().timeIntervalSince(u.since))]
                    if let next = u.nextProbe { e["next_probe_seconds"] = max(0, Int(next.timeIntervalSinceNow.rounded(.up))) }
                    return e
                }
            }
            write(jsonLine(o))
        case .text:
            var line = "\(s.done)/\(s.total) done · \(s.inFlight) in flight · \(s.failed) failed · \(s.retries) retries"
            if s.cancelled > 0 { line += " · \(s.cancelled) cancelled" }
            line += " · \(Int(s.tokensPerSecond)) tok/s"
            if let eta = s.eta, !final { line += " · ETA \(Self.duration(eta))" }
            line += " · \(Self.duration(s.elapsed)) elapsed"
            if !final { for u in s.outages.values.sorted(by: { $0.provider < $1.provider }) where !u.gaveUp { line += " · " + u.progress() } }
            if isTerminal && !final {
                lock.withLock { _ in
                    FileHandle.standardError.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
                }
                lineShown.withLock { $0 = true }
            } else {
                if isTerminal { clearLine() }
                write("\(Self.clock(Date())) INFO \(line)\n")
            }
        }
    }

    private func clearLine() {
        let shown = lineShown.withLock { s -> Bool in defer { s = false }; return s }
        if shown { lock.withLock { _ in FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) } }
    }

    private func write(_ s: String) { lock.withLock { _ in FileHandle.standardError.write(s.data(using: .utf8)!) } }

    private func jsonLine(_ o: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func clock(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: d)
    }

    /// Seconds between progress log lines when not on a terminal.
    var interval: Double { isTerminal ? 0.25 : 10 }
}
