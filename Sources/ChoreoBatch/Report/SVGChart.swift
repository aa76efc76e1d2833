import Foundation

/// One chart as inline SVG: bars or lines over a fixed number of bins, optional shaded bins and
/// marked positions. Every chart states its bins and points in `data-` attributes (the browser
/// test counts the elements against them) and carries a title, a description and axis labels.
struct SVGChart {
    enum Style { case line, bars, stackedBars }
    struct Series {
        var name: String
        var values: [Double]
        var style: Style
        /// Palette slot (Okabe–Ito, `.c0`…`.c7` in the page's CSS).
        var color: Int
    }

    var id: String
    var title: String
    var description: String
    var xLabel: String
    var yLabel: String
    var bins: Int
    var series: [Series]
    /// Bins shaded behind the data, with their CSS class (`shade-429`, `shade-outage`).
    var shades: [(bin: Int, cls: String)] = []
    /// Vertical marks at fractional bin positions (percentiles), with labels.
    var marks: [(at: Double, label: String, color: Int)] = []
    /// Labels under the x axis at fractional bin positions.
    var xTicks: [(at: Double, label: String)] = []

    static let width = 640.0, height = 220.0
    static let left = 56.0, right = 24.0, top = 34.0, bottom = 40.0

    func render() -> String {
        let w = Self.width - Self.left - Self.right, h = Self.height - Self.top - Self.bottom
        let step = w / Double(max(1, bins))
        var stackTop = [Double](repeating: 0, count: bins)
        var yMax = 0.0
        for s in series where s.style == .stackedBars { for i in 0..<min(bins, s.values.count) { stackTop[i] += s.values[i] } }
        yMax = max(stackTop.max() ?? 0, series.filter { $0.style != .stackedBars }.flatMap(\.values).max() ?? 0)
        if yMax <= 0 { yMax = 1 }
        func x(_ at: Double) -> Double { Self.left + at * step }
        func y(_ v: Double) -> Double { Self.top + h - v / yMax * h }
        let points = series.reduce(0) { $0 + ($1.style == .line ? $1.values.count : 0) }
        let rects = series.reduce(0) { $0 + ($1.style == .line ? 0 : $1.values.count) }
        var o = """
            <figure class="chart" id="\(id)"><svg viewBox="0 0 \(Int(Self.width)) \(Int(Self.height))" role="img" \
            aria-labelledby="\(id)-t \(id)-d" data-chart="\(id)" data-bins="\(bins)" data-series="\(series.count)" \
            data-points="\(points)" data-rects="\(rects)"><title id="\(id)-t">\(esc(title))</title><desc id="\(id)-d">\(esc(description))</desc>
            """
        o += "<text class=\"title\" x=\(f(Self.left)) y=\"14\">\(esc(title))</text>"
        for s in shades { o += "<rect class=\"\(s.cls)\" x=\(f(x(Double(s.bin)))) y=\(f(Self.top)) width=\(f(step)) height=\(f(h))></rect>" }
        // Axes, a grid line at the top value, labels.
        o += "<line class=\"axis\" x1=\(f(Self.left)) y1=\(f(Self.top + h)) x2=\(f(Self.left + w)) y2=\(f(Self.top + h))></line>"
        o += "<line class=\"axis\" x1=\(f(Self.left)) y1=\(f(Self.top)) x2=\(f(Self.left)) y2=\(f(Self.top + h))></line>"
        o += "<line class=\"grid\" x1=\(f(Self.left)) y1=\(f(Self.top)) x2=\(f(Self.left + w)) y2=\(f(Self.top))></line>"
        o += "<text class=\"tick\" x=\(f(Self.left - 4)) y=\(f(Self.top + 4)) text-anchor=\"end\">\(esc(Self.short(yMax)))</text>"
        o += "<text class=\"tick\" x=\(f(Self.left - 4)) y=\(f(Self.top + h)) text-anchor=\"end\">0</text>"
        for t in xTicks { o += "<text class=\"tick\" x=\(f(x(t.at))) y=\(f(Self.top + h + 14)) text-anchor=\"middle\">\(esc(t.label))</text>" }
        o += "<text class=\"label\" x=\(f(Self.left + w / 2)) y=\(f(Self.height - 6)) text-anchor=\"middle\">\(esc(xLabel))</text>"
        o += "<text class=\"label\" transform=\"translate(12 \(g(Self.top + h / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>"
        // Data.
        var base = [Double](repeating: 0, count: bins)
        let overlaid = series.filter { $0.style == .bars }.count
        for s in series {
            switch s.style {
            case .line:
                let pts = s.values.enumerated().map { "\(g(x(Double($0.offset) + 0.5))),\(g(y($0.element)))" }.joined(separator: " ")
                o += "<polyline class=\"series c\(s.color)\" data-name=\"\(esc(s.name))\" data-points=\"\(s.values.count)\" points=\"\(pts)\"><title>\(esc(s.name))</title></polyline>"
            case .bars, .stackedBars:
                o += "<g class=\"series c\(s.color)\(overlaid > 1 ? " overlaid" : "")\" data-name=\"\(esc(s.name))\" data-rects=\"\(s.values.count)\"><title>\(esc(s.name))</title>"
                for (i, v) in s.values.enumerated() {
                    let b = s.style == .stackedBars ? base[i] : 0
                    o += "<rect class=\"bin\" x=\(f(x(Double(i)) + 0.5)) y=\(f(y(b + v))) width=\(f(max(0.5, step - 1))) height=\(f(max(0, y(b) - y(b + v))))></rect>"
                    if s.style == .stackedBars { base[i] += v }
                }
                o += "</g>"
            }
        }
        for m in marks {
            o += "<line class=\"mark c\(m.color)\" x1=\(f(x(m.at))) y1=\(f(Self.top - 4)) x2=\(f(x(m.at))) y2=\(f(Self.top + h))></line>"
            o += "<text class=\"mark-label\" x=\(f(x(m.at) + 2)) y=\(f(Self.top - 6))>\(esc(m.label))</text>"
        }
        o += "</svg><figcaption>"
        o += series.map { "<span class=\"key c\($0.color)\"></span>\(esc($0.name))" }.joined(separator: " ")
        if shades.contains(where: { $0.cls == "shade-429" }) { o += " <span class=\"key shade-429\"></span>429 pauses" }
        if shades.contains(where: { $0.cls == "shade-outage" }) { o += " <span class=\"key shade-outage\"></span>provider unreachable" }
        return o + "</figcaption></figure>\n"
    }

    /// A coordinate as a quoted attribute value (`f`) or bare (`g`, inside `points`).
    private func f(_ v: Double) -> String { "\"" + g(v) + "\"" }
    private func g(_ v: Double) -> String { String(format: "%.1f", v) }

    /// 1234 → "1.2k", 0.0123 → "0.012".
    static func short(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.0fk", v / 1e3) }
        if a >= 1e3 { return String(format: "%.1fk", v / 1e3) }
        if a >= 10 || a == 0 { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.1f", v) }
        return String(format: "%.2g", v)
    }
}

/// Text for HTML (element content and quoted attributes).
func esc(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
