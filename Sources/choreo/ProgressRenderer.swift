import ChoreoBatch
import Foundation
import ChoreoLocking

/// Shows a run to a person or a log shipper: a live line on a terminal, fitted to its width
/// (`ProgressLine`) and redrawn in place; otherwise one log line per interval and one per failure
/// (text or JSON lines). Writes to stderr; never prints a key. `--quiet` keeps errors and the
/// summary only.
final class ProgressRenderer: Sendable {
    enum Format: String { case text, json }

    private let format: Format
    private let quiet: Bool
    private let isTerminal: Bool
    /// Serializes writes to stderr; holds whether the live line is on screen (a log line clears it first).
    private let output = Locked(false)

    /// `interval`: seconds between progress updates; by default 0.25 on a terminal, 10 in a log.
    init(format: Format, quiet: Bool, interval: Double? = nil) {
        self.format = format
        self.quiet = quiet
        self.isTerminal = isatty(2) == 1 && format == .text
        self.interval = interval ?? (isTerminal ? 0.25 : 10)
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
            write(line + "\n")
        }
    }

    /// Redraws the live line (terminal) or writes a progress log line.
    func progress(_ s: RunEvents.Snapshot) {
        if quiet { return }
        switch format {
        case .json:
            write(jsonLine(fields(s, event: "progress")))
        case .text where isTerminal:
            let line = ProgressLine.render(s, width: Self.terminalWidth())
            output.withLock { shown in
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                shown = true
            }
        case .text:
            write("\(Self.clock(Date())) INFO \(Self.logLine(s, final: false))\n")
        }
    }

    /// The last line of a run, quiet or not: the counters, why it stopped and the jobs left.
    func summary(_ s: RunEvents.Snapshot, stopped: String, jobsLeft: Int) {
        switch format {
        case .json:
            var o = fields(s, event: "summary")
            o["stopped"] = stopped
            o["jobs_left"] = jobsLeft
            write(jsonLine(o))
        case .text:
            write("\(Self.clock(Date())) INFO \(Self.logLine(s, final: true))\n")
        }
    }

    private func fields(_ s: RunEvents.Snapshot, event: String) -> [String: Any] {
        var o: [String: Any] = ["time": ISO8601DateFormatter().string(from: Date()), "level": "info", "event": event,
                                "done": s.done, "total": s.total, "in_flight": s.inFlight, "waiting": s.waiting, "succeeded": s.succeeded,
                                "failed": s.failed, "cancelled": s.cancelled, "retries": s.retries, "completion_tokens": s.completionTokens,
                                "tokens_per_second": (s.tokensPerSecond * 10).rounded() / 10, "elapsed_seconds": Int(s.elapsed)]
        if let eta = s.eta, event == "progress" { o["eta_seconds"] = Int(eta) }
        if let fault = s.storageFault, event == "progress" {
            o["storage_fault"] = ["reason": fault.reason, "seconds": Int(Date().timeIntervalSince(fault.since)),
                                  "stops_in_seconds": max(0, Int(fault.stopsAt.timeIntervalSinceNow.rounded(.up)))]
        }
        let outages = s.outages.values.filter { !$0.gaveUp }.sorted { $0.provider < $1.provider }
        if !outages.isEmpty {
            o["unreachable"] = outages.map { u -> [String: Any] in
                var e: [String: Any] = ["provider": u.provider, "reason": u.reason, "origin": u.origin,
                                        "seconds": Int(Date().timeIntervalSince(u.since))]
                if let next = u.nextProbe { e["next_probe_seconds"] = max(0, Int(next.timeIntervalSinceNow.rounded(.up))) }
                return e
            }
        }
        return o
    }

    /// The progress line of a log (not fitted to any width: log lines are read later, whole).
    static func logLine(_ s: RunEvents.Snapshot, final: Bool) -> String {
        var line = "\(s.done)/\(s.total) done · \(s.inFlight) in flight"
        if s.waiting > 0 { line += " · \(s.waiting) waiting" }
        line += " · \(s.failed) failed · \(s.retries) retries"
        if s.cancelled > 0 { line += " · \(s.cancelled) cancelled" }
        line += " · \(Int(s.tokensPerSecond)) tok/s"
        if let eta = s.eta, !final { line += " · ETA \(Self.duration(eta))" }
        line += " · \(Self.duration(s.elapsed)) elapsed"
        if !final { for u in s.outages.values.sorted(by: { $0.provider < $1.provider }) where !u.gaveUp { line += " · " + u.progress() } }
        if !final, let fault = s.storageFault { line += " · " + fault.progress() }
        return line
    }

    /// Columns of the terminal on stderr, asked at every redraw so a resized window is followed.
    static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Writes a whole line, clearing the live line first when it is on screen.
    private func write(_ s: String) {
        output.withLock { shown in
            FileHandle.standardError.write(Data(((shown ? "\r\u{1B}[K" : "") + s).utf8))
            shown = false
        }
    }

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

    /// Seconds between redraws of the live line, or between progress log lines.
    let interval: Double
}
