public import Foundation

/// `choreo report` as one self-contained HTML page: inline CSS and SVG, a few lines of script
/// (the colour-scheme switch), no URL anywhere, and a Content-Security-Policy that forbids every
/// request, so it opens from disk offline and stays the same forever. One batch, or two side by
/// side (the second overlaid on the first's charts, with deltas in the cards).
public struct ReportPage {
    public var reports: [BatchReport]
    public var generatedAt: Double

    public init(reports: [BatchReport], generatedAt: Double = Date().timeIntervalSince1970) {
        precondition(!reports.isEmpty && reports.count <= 2, "a report shows one batch or two")
        self.reports = reports
        self.generatedAt = generatedAt
    }

    /// Bins of the time charts and of the histograms.
    public static let timeBins = 60
    public static let histogramBins = 30

    public func render() -> String {
        var o = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Choreo report: \(esc(reports.map(\.status.id).joined(separator: " vs ")))</title>
            <style>\(Self.css)</style></head>
            <body><header><h1>Choreo report</h1><p>\(reports.enumerated().map { "<span class=\"key c\(Self.batchColor($0.offset))\"></span><b>\(esc($0.element.status.id))</b>\($0.element.status.name.map { " (\(esc($0)))" } ?? "")" }.joined(separator: " vs "))
             · generated \(esc(Self.date(generatedAt)))
            <button id="theme" type="button" aria-label="Switch between the light and the dark colour scheme">◐ light / dark</button></p></header>
            <main>
            """
        o += cards()
        o += overTime()
        o += distributions()
        o += tables()
        o += "</main><script>\(Self.script)</script></body></html>\n"
        return o
    }

    static func batchColor(_ i: Int) -> Int { i == 0 ? 4 : 5 }

    // MARK: Cards

    private func cards() -> String {
        typealias Card = (key: String, title: String, value: (BatchReport) -> Double?, format: (Double) -> String)
        let count: (Double) -> String = { String(Int($0)) }
        var list: [Card] = [
            ("jobs", "Jobs", { Double($0.status.totalJobs) }, count),
            ("succeeded", "Succeeded", { Double($0.status.count("succeeded")) }, count),
            ("succeeded_pct", "Succeeded %", { r in r.status.totalJobs > 0 ? Double(r.status.count("succeeded")) * 100 / Double(r.status.totalJobs) : nil },
             { String(format: "%.1f%%", $0) }),
            ("failed", "Failed", { Double($0.status.count("failed")) }, count),
            ("input_tokens", "Input tokens", { Double($0.status.promptTokens) }, count),
            ("output_tokens", "Output tokens", { Double($0.status.completionTokens) }, count),
            ("elapsed_s", "Wall time", { $0.status.elapsed.map { ($0 * 100).rounded() / 100 } }, Self.duration),
            ("completions_per_min", "Completions / min", { $0.status.jobsPerSecond.map { ($0 * 100).rounded() / 100 * 60 } }, { String(format: "%.1f", $0) }),
            ("output_tokens_per_s", "Output tokens / s", { $0.status.outputTokensPerSecond.map { ($0 * 100).rounded() / 100 } }, { String(format: "%.1f", $0) }),
        ]
        // A cost card when every model of the batch has a price (docs/cost.md).
        if reports.contains(where: { $0.cost != nil }) { list.append(("cost", "Cost (USD)", { $0.cost }, { String(format: "$%.4f", $0) })) }
        var o = "<section aria-labelledby=\"cards-h\"><h2 id=\"cards-h\">Summary</h2><div class=\"cards\">"
        for c in list {
            o += "<div class=\"card\" data-card=\"\(c.key)\"><h3>\(c.title)</h3>"
            for (i, r) in reports.enumerated() {
                let v = c.value(r)
                o += "<p class=\"value b\(i)\" data-value=\"\(v.map { Self.number($0) } ?? "")\">\(v.map(c.format) ?? "—")</p>"
            }
            if reports.count == 2, let a = c.value(reports[0]), let b = c.value(reports[1]) {
                let d = b - a
                o += "<p class=\"delta\" data-delta=\"\(Self.number(d))\">Δ \(d >= 0 ? "+" : "−")\(c.format(abs(d)))</p>"
            }
            o += "</div>"
        }
        o += "</div>"
        for (i, r) in reports.enumerated() where !r.status.failures.isEmpty {
            o += "<p class=\"kinds b\(i)\">Failed by kind\(reports.count == 2 ? " (\(esc(r.status.id)))" : ""): "
            o += r.status.failures.map { "<span data-kind=\"\(esc($0.kind))\" data-value=\"\($0.count)\">\(esc($0.kind)) \($0.count)</span>" }.joined(separator: ", ")
            o += "</p>"
        }
        return o + "</section>\n"
    }

    // MARK: Over time

    private func overTime() -> String {
        let bins = Self.timeBins
        // A shared axis: seconds from each batch's first start, as long as the longer batch.
        let span = reports.map { $0.binSeconds * Double(bins) }.max() ?? 1
        /// Onto the shared axis: counts add up, rates and running totals keep their largest value,
        /// and a running total holds its last value past the end of the shorter batch.
        func rebinned(_ r: BatchReport, _ values: [Double], rate: Bool = false, cumulative: Bool = false) -> [Double] {
            guard reports.count == 2 else { return values }
            var out = [Double](repeating: 0, count: bins)
            let scale = r.binSeconds * Double(bins) / span
            for (i, v) in values.enumerated() {
                let j = min(bins - 1, Int((Double(i) + 0.5) * scale))
                out[j] = rate || cumulative ? max(out[j], v) : out[j] + v
            }
            if cumulative { for j in out.indices.dropFirst() { out[j] = max(out[j], out[j - 1]) } }
            return out
        }
        let ticks = (0...4).map { (at: Double(bins) * Double($0) / 4, label: Self.duration(span * Double($0) / 4)) }
        var shades: [(Int, String)] = []
        let first = reports[0]
        let firstScale = first.binSeconds * Double(bins) / span
        for b in first.outageBins.sorted() { shades.append((min(bins - 1, Int(Double(b) * firstScale)), "shade-outage")) }
        for b in first.rateLimitedBins.sorted() { shades.append((min(bins - 1, Int(Double(b) * firstScale)), "shade-429")) }
        let binText = Self.duration(span / Double(bins))
        func chart(_ id: String, _ title: String, _ y: String, _ values: (BatchReport) -> [Double], rate: Bool = false, cumulative: Bool = false,
                   style: SVGChart.Style = .line) -> String {
            SVGChart(id: id, title: title, description: "\(title) in \(bins) bins of \(binText) each, from the batch's first start.",
                     xLabel: "time since the first start", yLabel: y, bins: bins,
                     series: reports.enumerated().map { .init(name: $0.element.status.id, values: rebinned($0.element, values($0.element), rate: rate, cumulative: cumulative),
                                                               style: style, color: Self.batchColor($0.offset)) },
                     shades: shades, xTicks: ticks).render()
        }
        var o = "<section aria-labelledby=\"time-h\"><h2 id=\"time-h\">Over time</h2><div class=\"charts\">"
        o += chart("completions", "Completions per bin", "completions", { $0.completions }, style: reports.count == 1 ? .bars : .line)
        o += chart("tokens", "Output tokens per second", "tokens / s", { $0.tokensPerSecond }, rate: true)
        o += chart("inflight", "Streams in flight", "streams", { $0.inFlight }, rate: true)
        // Failed and retried attempts by kind: stacked for one batch, totals per batch for two.
        let failures: [SVGChart.Series]
        if reports.count == 1 {
            failures = first.failuresByKind.enumerated().map { .init(name: $0.element.kind, values: $0.element.counts, style: .stackedBars, color: [5, 0, 6, 2, 1, 3, 7][$0.offset % 7]) }
        } else {
            failures = reports.enumerated().map { i, r in
                var total = [Double](repeating: 0, count: bins)
                for k in r.failuresByKind { for j in 0..<bins { total[j] += k.counts[j] } }
                return .init(name: r.status.id, values: rebinned(r, total), style: .line, color: Self.batchColor(i))
            }
        }
        o += SVGChart(id: "failures", title: "Retries and failures by kind", description: "Attempts that did not succeed, by kind, per bin of \(binText); 429 pauses and outages shaded.",
                      xLabel: "time since the first start", yLabel: "attempts", bins: bins, series: failures, shades: shades, xTicks: ticks).render()
        if reports.allSatisfy({ $0.cumulativeCost != nil }) {
            o += chart("cost", "Cumulative cost", "USD", { $0.cumulativeCost ?? [] }, cumulative: true)
        }
        return o + "</div></section>\n"
    }

    // MARK: Distributions

    private func distributions() -> String {
        let metrics: [(key: String, title: String, unit: String, values: (BatchReport.ModelStats) -> [Double])] = [
            ("ttft", "Time to first token", "ms", \.ttft),
            ("latency", "Total latency", "ms", \.latency),
            ("gap", "Inter-chunk gap (each job's p95)", "ms", \.gapP95),
            ("tps", "Output tokens per second", "tokens / s", \.tokensPerSecond),
        ]
        let models = Set(reports.flatMap { $0.models.map(\.model) }).sorted()
        var o = "<section aria-labelledby=\"dist-h\"><h2 id=\"dist-h\">Distributions by model</h2>"
        for (n, model) in models.enumerated() {
            let stats = reports.map { r in r.models.first { $0.model == model } }
            let provider = stats.compactMap { $0?.provider }.first { !$0.isEmpty }
            o += "<h3>\(esc(model))\(provider.map { " · \(esc($0))" } ?? "")</h3><div class=\"charts\">"
            for m in metrics {
                let all = stats.map { $0.map(m.values) ?? [] }
                o += histogram(id: "\(m.key)-\(n)", title: "\(m.title), \(model)", unit: m.unit, samples: all)
            }
            o += "</div>"
        }
        return o + "</section>\n"
    }

    /// Log-spaced bins over every sample of both batches, with p50, p95 and p99 marked.
    private func histogram(id: String, title: String, unit: String, samples: [[Double]]) -> String {
        let bins = Self.histogramBins
        let positive = samples.flatMap { $0 }.filter { $0 > 0 }
        let lo = max(positive.min() ?? 1, 0.01), hi = max(positive.max() ?? 10, lo * 1.01)
        let (l0, l1) = (log10(lo), log10(hi) + 1e-9)
        func position(_ v: Double) -> Double { max(0, min(Double(bins), (log10(max(v, lo)) - l0) / (l1 - l0) * Double(bins))) }
        var series: [SVGChart.Series] = []
        var marks: [(Double, String, Int)] = []
        var summary: [String] = []
        for (i, values) in samples.enumerated() {
            var counts = [Double](repeating: 0, count: bins)
            for v in values { counts[min(bins - 1, Int(position(v)))] += 1 }
            series.append(.init(name: reports[i].status.id, values: counts, style: .bars, color: Self.batchColor(i)))
            let sorted = values.sorted()
            for (p, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
                guard let v = Self.percentile(sorted, p) else { continue }
                marks.append((position(v), i == 0 ? name : "", Self.batchColor(i)))
                summary.append("\(reports.count == 2 ? "\(reports[i].status.id) " : "")\(name) \(Self.short(v)) \(unit)")
            }
        }
        let ticks = (0...3).map { k in (at: Double(bins) * Double(k) / 3, label: Self.short(pow(10, l0 + (l1 - l0) * Double(k) / 3))) }
        var chart = SVGChart(id: id, title: title, description: "Histogram of \(samples.map(\.count).reduce(0, +)) jobs in \(bins) log-spaced bins. " + summary.joined(separator: ", "),
                             xLabel: "\(unit) (log scale)", yLabel: "jobs", bins: bins, series: series, xTicks: ticks)
        chart.marks = marks.map { (at: $0.0, label: $0.1, color: $0.2) }
        return chart.render().replacingOccurrences(of: "</figcaption>", with: " · <span class=\"pct\">\(esc(summary.joined(separator: " · ")))</span></figcaption>")
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
    }

    // MARK: Tables

    private func tables() -> String {
        var o = "<section aria-labelledby=\"tables-h\"><h2 id=\"tables-h\">Tables</h2>"
        for (i, r) in reports.enumerated() {
            let suffix = reports.count == 2 ? " — \(esc(r.status.id))" : ""
            o += "<h3>Per model\(suffix)</h3><table class=\"models\"><thead><tr><th scope=\"col\">model</th><th scope=\"col\">provider</th><th scope=\"col\">succeeded</th><th scope=\"col\">failed</th><th scope=\"col\">output tokens</th><th scope=\"col\">TTFT p50 / p95 ms</th><th scope=\"col\">latency p50 / p95 ms</th><th scope=\"col\">tokens/s p50</th></tr></thead><tbody>"
            for m in r.models {
                let t = m.ttft.sorted(), l = m.latency.sorted(), s = m.tokensPerSecond.sorted()
                func p(_ a: [Double], _ q: Double) -> String { Self.percentile(a, q).map { Self.short($0) } ?? "—" }
                o += "<tr><td>\(esc(m.model))</td><td>\(esc(m.provider))</td><td>\(m.succeeded)</td><td>\(m.failed)</td><td>\(m.outputTokens)</td><td>\(p(t, 0.5)) / \(p(t, 0.95))</td><td>\(p(l, 0.5)) / \(p(l, 0.95))</td><td>\(p(s, 0.5))</td></tr>"
            }
            o += "</tbody></table>"
            o += "<h3>Slowest 20 jobs\(suffix)</h3>" + jobTable(r.slowest, batch: i, failed: false)
            o += "<h3>Failed jobs\(suffix) (\(r.failedTotal))</h3>"
            if r.failed.isEmpty { o += "<p>None.</p>" } else { o += jobTable(r.failed, batch: i, failed: true) }
            if r.failedTotal > r.failed.count {
                o += "<p>The first \(r.failed.count) are shown; all of them: <code>choreo sql \"SELECT custom_id, error_kind, error_message FROM jobs WHERE batch_id = '\(esc(r.status.id))' AND state = 'failed'\"</code></p>"
            }
        }
        o += "<h2 id=\"jobs-h\">Jobs</h2>"
        var seen: Set<String> = []
        for (i, r) in reports.enumerated() {
            for d in r.details where seen.insert("\(i)-\(d.id)").inserted {
                o += "<details class=\"job\" id=\"job-\(i)-\(d.id)\"><summary>job \(d.id)</summary><pre>\(esc(d.text))</pre></details>"
            }
        }
        return o + "</section>\n"
    }

    private func jobTable(_ rows: [BatchReport.JobRow], batch: Int, failed: Bool) -> String {
        var o = "<table class=\"\(failed ? "failed" : "slowest")\"><thead><tr><th scope=\"col\">job</th><th scope=\"col\">model</th><th scope=\"col\">attempts</th>"
        o += failed ? "<th scope=\"col\">kind</th><th scope=\"col\">last error</th>" : "<th scope=\"col\">latency ms</th><th scope=\"col\">TTFT ms</th>"
        o += "</tr></thead><tbody>"
        for r in rows {
            o += "<tr><td><a href=\"#job-\(batch)-\(r.id)\">\(esc(r.customID))</a></td><td>\(esc(r.model))</td><td>\(r.attempts)</td>"
            o += failed ? "<td>\(esc(r.errorKind ?? ""))</td><td class=\"msg\">\(esc(String((r.errorMessage ?? "").prefix(300))))</td>"
                        : "<td>\(r.durationMs.map(String.init) ?? "—")</td><td>\(r.firstTokenMs.map(String.init) ?? "—")</td>"
            o += "</tr>"
        }
        return o + "</tbody></table>"
    }

    // MARK: Formatting

    static func short(_ v: Double) -> String { SVGChart.short(v) }

    /// A number for a `data-` attribute: integers without a fraction, others with two decimals.
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.2f", v)
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1f s", s) }
        if s < 3600 { return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60) }
        return String(format: "%d h %02d min", Int(s) / 3600, Int(s) % 3600 / 60)
    }

    static func date(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    /// Okabe–Ito colours (distinguishable with every common colour blindness), light and dark.
    static let css = """
        :root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#666;--card:#f4f4f4;--line:#bbb;
        --c0:#E69F00;--c1:#56B4E9;--c2:#009E73;--c3:#F0E442;--c4:#0072B2;--c5:#D55E00;--c6:#CC79A7;--c7:#000;}
        @media (prefers-color-scheme:dark){:root:not(.light){--bg:#15171a;--fg:#e8e8e8;--muted:#aaa;--card:#23262b;--line:#555;--c4:#56B4E9;--c1:#0072B2;--c7:#ddd;}}
        :root.dark{--bg:#15171a;--fg:#e8e8e8;--muted:#aaa;--card:#23262b;--line:#555;--c4:#56B4E9;--c1:#0072B2;--c7:#ddd;}
        body{background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:1em 2em}
        h1{margin:.2em 0}h2{border-bottom:1px solid var(--line);padding-bottom:.2em;margin-top:1.5em}h3{margin:.8em 0 .3em;font-size:1em}
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6em}
        .card{background:var(--card);border-radius:6px;padding:.5em .8em}.card h3{margin:0;font-weight:normal;color:var(--muted)}
        .card .value{font-size:1.5em;margin:.1em 0;font-variant-numeric:tabular-nums}.card .value.b1{font-size:1.1em;color:var(--c5)}.delta{margin:0;color:var(--muted)}
        .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1em}
        figure{margin:0}svg{width:100%;height:auto}figcaption{color:var(--muted);font-size:.85em}
        .axis{stroke:var(--fg);stroke-width:1}.grid{stroke:var(--line);stroke-dasharray:2 3}
        .tick,.mark-label{fill:var(--muted);font-size:10px}.title{fill:var(--fg);font-size:13px;font-weight:600}.label{fill:var(--fg);font-size:11px}
        polyline.series{fill:none;stroke-width:2}
        .c0{--c:var(--c0)}.c1{--c:var(--c1)}.c2{--c:var(--c2)}.c3{--c:var(--c3)}.c4{--c:var(--c4)}.c5{--c:var(--c5)}.c6{--c:var(--c6)}.c7{--c:var(--c7)}
        polyline.series,line.mark{stroke:var(--c)}g.series rect{fill:var(--c)}g.overlaid rect{opacity:.55}line.mark{stroke-width:1.5;stroke-dasharray:4 2}
        .key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .6em;background:var(--c);vertical-align:middle}
        .shade-429{fill:#E69F00;opacity:.18}.shade-outage{fill:#888;opacity:.25}span.shade-429{background:#E69F00;opacity:.5}span.shade-outage{background:#888}
        table{border-collapse:collapse;margin:.3em 0 1em;font-variant-numeric:tabular-nums}th,td{border-bottom:1px solid var(--line);padding:.2em .6em;text-align:left}
        td.msg{max-width:60em;overflow-wrap:anywhere}a{color:var(--c4)}pre{white-space:pre-wrap;background:var(--card);padding:.6em;overflow-wrap:anywhere}
        button{background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:4px;margin-left:1em;cursor:pointer}
        @media print{:root{--bg:#fff;--fg:#000;--card:#fff;--line:#999}button{display:none}details.job{display:none}.charts{grid-template-columns:1fr 1fr}figure{break-inside:avoid}}
        """

    /// The colour-scheme switch, and links that open the job they point at.
    static let script = """
        document.getElementById('theme').addEventListener('click',function(){var r=document.documentElement;\
        var dark=r.classList.contains('dark')||(!r.classList.contains('light')&&matchMedia('(prefers-color-scheme: dark)').matches);\
        r.classList.toggle('dark',!dark);r.classList.toggle('light',dark);});\
        function openJob(){var e=location.hash&&document.getElementById(location.hash.slice(1));if(e&&e.tagName==='DETAILS')e.open=true;}\
        addEventListener('hashchange',openJob);openJob();
        """
}
