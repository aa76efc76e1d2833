public import Foundation

/// The live line a run shows on a terminal, fitted to its width.
///
/// A line wider than the terminal wraps, and `\r` then returns only to its last row, so every
/// redraw leaves a copy behind. The line is built from parts ranked by how much a person
/// watching needs them; the least useful is shortened or dropped, one at a time, until what is
/// left fits in `width - 1` columns (the last column stays free: writing into it makes some
/// terminals wrap).
public enum ProgressLine {
    /// One part of the line: its forms, longest first, each with the rank at which it goes
    /// (higher goes sooner). The bar is a part whose width stretches to fill what is left.
    private struct Part {
        var forms: [(rank: Int, text: String)]
        var isBar = false
        var form = 0
        var rank: Int { forms[form].rank }
        var text: String { forms[form].text }
    }

    static let barWidth = 24
    static let minimumBarWidth = 8

    public static func render(_ s: RunEvents.Snapshot, width: Int, now: Date = Date()) -> String {
        let room = max(width - 1, 1)
        guard s.hasBegun else { return String("starting…".unicodeScalars.prefix(room).map(Character.init)) }
        let fraction = s.total > 0 ? Double(s.done) / Double(s.total) : 1
        // A provider outage or a database that cannot be written explains why nothing moves, so
        // its short form outranks all but the count; elapsed time and retries matter least.
        var parts = [Part(forms: [(6, BatchStatus.bar(fraction, width: minimumBarWidth))], isBar: true),
                     Part(forms: [(4, "\(s.done)/\(s.total) \(Int((fraction * 100).rounded(.down)))%"), (0, "\(s.done)/\(s.total)")])]
        for o in s.outages.values.filter({ !$0.gaveUp }).sorted(by: { $0.provider < $1.provider }) {
            parts.append(Part(forms: [(5, sanitized(o.progress(now: now))),
                                      (1, "\(sanitized(o.provider)) unreachable \(ProviderOutage.clock(now.timeIntervalSince(o.since)))"),
                                      (1, "\(sanitized(o.provider)) down")]))
        }
        if let fault = s.storageFault {
            parts.append(Part(forms: [(5, fault.progress(now: now)),
                                      (1, "database not writable \(ProviderOutage.clock(now.timeIntervalSince(fault.since)))"),
                                      (1, "database not writable")]))
        }
        if s.failed > 0 { parts.append(Part(forms: [(2, "\(s.failed) failed")])) }
        // Cancelled jobs count as done: without this part the count would jump with no reason shown.
        if s.cancelled > 0 { parts.append(Part(forms: [(2, "\(s.cancelled) cancelled")])) }
        if s.cached > 0 { parts.append(Part(forms: [(3, "\(s.cached) from cache")])) }
        if let eta = s.eta { parts.append(Part(forms: [(3, "ETA \(ProviderOutage.clock(eta))")])) }
        parts.append(Part(forms: [(7, "\(s.inFlight) in flight")]))
        if s.waiting > 0 { parts.append(Part(forms: [(7, "\(s.waiting) waiting")])) }
        parts.append(Part(forms: [(8, "\(Int(s.tokensPerSecond)) tok/s")]))
        if s.retries > 0 { parts.append(Part(forms: [(9, "\(s.retries) retries")])) }
        parts.append(Part(forms: [(10, "\(ProviderOutage.clock(s.elapsed)) elapsed")]))

        while parts.count > 1, columns(compose(parts)) > room {
            let worst = parts.indices.max { parts[$0].rank < parts[$1].rank }!
            if parts[worst].form + 1 < parts[worst].forms.count { parts[worst].form += 1 } else { parts.remove(at: worst) }
        }
        // The bar grows into what is left, up to its usual width.
        if let i = parts.firstIndex(where: \.isBar) {
            let grown = minimumBarWidth + max(0, min(barWidth - minimumBarWidth, room - columns(compose(parts))))
            parts[i].forms[0].text = BatchStatus.bar(fraction, width: grown)
        }
        let line = compose(parts)
        return columns(line) > room ? String(String.UnicodeScalarView(line.unicodeScalars.prefix(room - 1))) + "…" : line
    }

    /// The bar, then the other parts separated by dots.
    private static func compose(_ parts: [Part]) -> String {
        let bar = parts.first(where: \.isBar).map { $0.text + " " } ?? ""
        return bar + parts.filter { !$0.isBar }.map(\.text).joined(separator: " · ")
    }

    /// A provider's name and reason come from configuration and servers: printable ASCII only
    /// (an escape sequence would move the cursor, a newline break the redraw, a wide character
    /// throw the count of columns off).
    private static func sanitized(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { (0x20..<0x7F).contains($0.value) ? $0 : "?" }))
    }

    /// Terminal columns: every character the line holds is one column wide (printable ASCII,
    /// `·`, `…`).
    static func columns(_ s: String) -> Int { s.unicodeScalars.count }
}
