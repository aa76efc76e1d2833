import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoSQLite
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `choreo report` opened in a real browser (Debian's headless `chromium`, installed by
/// scripts/setup.sh): no console error, no network request, every chart with its bins and
/// points, and cards that say what `status --json` says.
@Suite(.serialized) struct ReportBrowserTests {
    /// A report of a mock batch with faults (429s, drops, 5xx, stalls, malformed chunks; two
    /// attempts at most, so some jobs fail) over two providers.
    static func reportedBatch() async throws -> (fixture: Fixture, report: URL) {
        return try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(1), faultRate: 0.4, seed: 18, retryAfterMs: 20)) { server in
        let fixture = try Fixture(count: 60, models: ["gpt-4o-mini", "claude-sonnet-4-5"], maxTokens: 30)
        _ = try await fixture.run(server) {
            $0.retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.05)
            $0.stallTimeout = Fixture.stallFaults
        }
        let report = fixture.directory.appendingPathComponent("report.html")
        let (status, out) = try await UserFilesTests.capture(ChoreoBinary.path, ["report", fixture.batchID, "--db", fixture.databasePath,
                                                                                 "--output", report.path], in: fixture.directory)
        #expect(status == 0, "\(out)")
        return (fixture, report)
    }
    }

    @Test func theReportHasEveryChartAndTheCardsOfStatusWithNoErrorAndNoRequest() async throws {
        let (fixture, report) = try await Self.reportedBatch()
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'failed'") > 0, "the batch should have failures to show")
        let proxy = try ProxyRecorder()
        let run = try await Chromium.run(["--dump-dom", report.path], proxy: proxy.port, in: fixture.directory)
        #expect(run.status == 0)
        #expect(!run.stderr.contains("CONSOLE"), "console messages: \(run.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") })")
        #expect(proxy.pageHosts.isEmpty, "the page asked for \(proxy.pageHosts)")
        let dom = run.stdout
        #expect(dom.contains("</html>"))

        // Every chart, with the number of bins and points it states, and as many elements drawn.
        let charts = Self.charts(in: dom)
        for id in ["completions", "tokens", "inflight", "failures", "cost"] {
            let c = try #require(charts[id], "chart \(id) is missing")
            #expect(c.bins == ReportPage.timeBins, "\(id)")
            #expect(c.rects + c.points > 0 && c.rects % ReportPage.timeBins == 0 && c.points % ReportPage.timeBins == 0, "\(id)")
            #expect(c.drawnRects == c.rects && c.drawnPoints == c.points, "\(id): drawn \(c.drawnRects) rects, \(c.drawnPoints) points")
        }
        #expect(charts["completions"]!.rects == ReportPage.timeBins && charts["tokens"]!.points == ReportPage.timeBins)
        // Four distributions per model, each with 30 bins.
        for (n, _) in ["claude-sonnet-4-5", "gpt-4o-mini"].enumerated() {
            for metric in ["ttft", "latency", "gap", "tps"] {
                let c = try #require(charts["\(metric)-\(n)"], "histogram \(metric)-\(n) is missing")
                #expect(c.bins == ReportPage.histogramBins && c.rects == ReportPage.histogramBins && c.drawnRects == c.rects)
            }
        }

        // The cards say what `status --json` says.
        let (status, out) = try await UserFilesTests.capture(ChoreoBinary.path, ["status", fixture.batchID, "--json", "--db", fixture.databasePath],
                                                             in: fixture.directory)
        #expect(status == 0)
        let json = try JSONValue.parse(String(try #require(out.split(separator: "\n").first { $0.hasPrefix("{") })))
        let cards = Self.cards(in: dom)
        #expect(cards["jobs"] == json["request_counts"]?["total"]?.doubleValue)
        #expect(cards["succeeded"] == json["request_counts"]?["completed"]?.doubleValue)
        #expect(cards["failed"] == json["request_counts"]?["failed"]?.doubleValue)
        #expect(cards["input_tokens"] == json["usage"]?["input_tokens"]?.doubleValue)
        #expect(cards["output_tokens"] == json["usage"]?["output_tokens"]?.doubleValue)
        #expect(cards["elapsed_s"] == json["elapsed_s"]?.doubleValue)
        #expect(cards["output_tokens_per_s"] == json["output_tokens_per_s"]?.doubleValue)
        let kinds = Self.values(in: dom, attribute: "data-kind")
        #expect(kinds == json["failures"]?.objectValue?.mapValues { $0.doubleValue ?? -1 })
        // The cost card is the batch's cost as status prices it (the mock's models are priced).
        let cost = try #require(json["cost"]?["cost_usd"]?.doubleValue)
        #expect(abs((cards["cost"] ?? -1) - cost) <= 0.005)  // the data value is rounded to cents
        // The cumulative cost chart climbs, bin by bin, to that same cost.
        let db = try Database(path: fixture.databasePath)
        let spent = try #require(try BatchReport.load(db, batch: fixture.batchID, bins: ReportPage.timeBins).cumulativeCost)
        #expect(spent.count == ReportPage.timeBins && charts["cost"]?.points == ReportPage.timeBins)
        #expect(zip(spent, spent.dropFirst()).allSatisfy { $0 <= $1 }, "\(spent)")
        #expect(spent[spent.count - 1] > 0 && abs(spent[spent.count - 1] - cost) < 1e-9, "\(spent.last!) vs \(cost)")

        // Each failed job links to its anchor, which holds its attempt history.
        let failed = try fixture.scalar("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id LIMIT 1")
        #expect(dom.contains("href=\"#job-0-\(failed)\"") && dom.contains("id=\"job-0-\(failed)\""))
    }

    @Test func theReportRendersToAScreenshot() async throws {
        let (fixture, report) = try await Self.reportedBatch()
        let png = fixture.directory.appendingPathComponent("report.png")
        let run = try await Chromium.run(["--screenshot=\(png.path)", "--window-size=1280,1600", report.path], proxy: nil, in: fixture.directory)
        #expect(run.status == 0)
        let bytes = [UInt8](try Data(contentsOf: png))
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        let width = bytes.count > 24 ? bytes[16..<20].reduce(0) { $0 << 8 | Int($1) } : 0
        #expect(width == 1280)
        #expect(bytes.count > 20_000, "a blank page compresses to less")
    }

    /// `report A B`: the second batch overlaid on the first's charts (one line per batch), both
    /// values in every card with their difference, and each batch's jobs under its own anchors.
    @Test func twoBatchesSideBySideOverlayTheChartsAndShowTheDeltas() async throws {
        let (fixture, _) = try await Self.reportedBatch()
        // A second, smaller batch in the same database, run without faults.
        let file = fixture.directory.appendingPathComponent("second.jsonl")
        try (0..<25).map { i in
            #"{"custom_id":"second-\#(i)","model":"gpt-4o-mini","max_tokens":20,"messages":[{"role":"user","content":"Second batch, question \#(i)"}]}"#
        }.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let second = try BatchSubmitter(database: try Database(path: fixture.databasePath)).submit(file: file.path).batchID
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(1), seed: 19))
        let summary = try await fixture.run(server) { $0.batch = second }
        try await server.shutdown()
        #expect(summary.succeeded == 25)

        let report = fixture.directory.appendingPathComponent("two.html")
        let (status, out) = try await UserFilesTests.capture(ChoreoBinary.path, ["report", fixture.batchID, second, "--db", fixture.databasePath,
                                                                                 "--output", report.path], in: fixture.directory)
        #expect(status == 0, "\(out)")
        let run = try await Chromium.run(["--dump-dom", report.path], proxy: nil, in: fixture.directory)
        #expect(run.status == 0)
        #expect(!run.stderr.contains("CONSOLE"), "console messages: \(run.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") })")
        let dom = run.stdout

        // Every time chart holds one line per batch, each over every bin.
        let charts = Self.charts(in: dom)
        for id in ["completions", "tokens", "inflight", "failures", "cost"] {
            let c = try #require(charts[id], "chart \(id) is missing")
            #expect(c.points == 2 * ReportPage.timeBins && c.drawnPoints == c.points && c.rects == 0, "\(id): \(c)")
        }
        // Both batches' values in each card, and the delta is the second minus the first.
        let cards = dom.components(separatedBy: "data-card=\"").dropFirst().map { $0.components(separatedBy: "</div>")[0] }
        let jobs = try #require(cards.first { $0.hasPrefix("jobs\"") })
        let values = jobs.components(separatedBy: " data-value=\"").dropFirst().map { Double($0.prefix { $0 != "\"" }) }
        #expect(values == [60, 25], "\(jobs)")
        #expect(Self.attribute("data-delta", in: jobs) == "-35")
        let succeeded = try #require(cards.first { $0.hasPrefix("succeeded\"") })
        let ok = succeeded.components(separatedBy: " data-value=\"").dropFirst().compactMap { Double($0.prefix { $0 != "\"" }) }
        #expect(ok.count == 2 && ok[1] == 25)
        #expect(Self.attribute("data-delta", in: succeeded).flatMap(Double.init) == ok[1] - ok[0])
        // Each batch's jobs under its own anchors.
        let firstFailed = try fixture.scalar("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id LIMIT 1")
        #expect(dom.contains("id=\"job-0-\(firstFailed)\""))
        #expect(dom.contains("href=\"#job-1-") && dom.contains("id=\"job-1-"))
    }

    /// The two detectors can fail: a page that asks for a URL is seen at the proxy, and a page
    /// that logs an error is seen in the log.
    @Test func aRequestAndAConsoleErrorAreSeen() async throws {
        let scratch = TemporaryDirectory("choreo-browser")
        let dir = scratch.url
        let page = dir.appendingPathComponent("bad.html")
        try """
            <!DOCTYPE html><html><body><img src="http://report-test.invalid/x.png"><script>console.error("report-test-error")</script></body></html>
            """.write(to: page, atomically: true, encoding: .utf8)
        let proxy = try ProxyRecorder()
        let run = try await Chromium.run(["--dump-dom", page.path], proxy: proxy.port, in: dir)
        #expect(run.stderr.contains("CONSOLE") && run.stderr.contains("report-test-error"))
        #expect(proxy.pageHosts == ["report-test.invalid"], "\(proxy.hosts)")
    }

    // MARK: Reading the DOM

    struct Chart { var bins = 0, rects = 0, points = 0, drawnRects = 0, drawnPoints = 0 }

    /// Each chart's stated bins, rects and points, and what it draws (`rect.bin`, polyline points).
    static func charts(in dom: String) -> [String: Chart] {
        var out: [String: Chart] = [:]
        for part in dom.components(separatedBy: "<figure class=\"chart\"").dropFirst() {
            let figure = part.components(separatedBy: "</figure>")[0]
            guard let id = attribute("data-chart", in: figure) else { continue }
            var c = Chart(bins: Int(attribute("data-bins", in: figure) ?? "") ?? 0, rects: Int(attribute("data-rects", in: figure) ?? "") ?? 0,
                          points: Int(attribute("data-points", in: figure) ?? "") ?? 0)
            c.drawnRects = figure.components(separatedBy: "<rect class=\"bin\"").count - 1
            for poly in figure.components(separatedBy: "<polyline").dropFirst() {
                c.drawnPoints += (attribute("points", in: poly) ?? "").split(separator: " ").count
            }
            out[id] = c
        }
        return out
    }

    static func attribute(_ name: String, in html: some StringProtocol) -> String? {
        guard let r = html.range(of: " \(name)=\"") else { return nil }
        return String(html[r.upperBound...].prefix { $0 != "\"" })
    }

    /// `data-card` → the first `data-value` inside it.
    static func cards(in dom: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for part in dom.components(separatedBy: "data-card=\"").dropFirst() {
            let key = String(part.prefix { $0 != "\"" })
            if let v = attribute("data-value", in: part.components(separatedBy: "</div>")[0]).flatMap(Double.init) { out[key] = v }
        }
        return out
    }

    static func values(in dom: String, attribute name: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for part in dom.components(separatedBy: " \(name)=\"").dropFirst() {
            let key = String(part.prefix { $0 != "\"" })
            out[key] = attribute("data-value", in: part.prefix(200)).flatMap(Double.init)
        }
        return out
    }
}

/// Headless Chromium, run once per page (no DevTools protocol): `--enable-logging=stderr`
/// prints the page's console as `CONSOLE` lines; every request goes to `proxy` when given.
enum Chromium {
    static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ arguments: [String], proxy: Int?, in dir: URL) async throws -> (status: Int32, stdout: String, stderr: String) {
        let path = try #require(path, "chromium is not installed: run scripts/setup.sh (Debian's chromium package)")
        let out = dir.appendingPathComponent("chromium-\(UUID().uuidString).out"), err = dir.appendingPathComponent("chromium-\(UUID().uuidString).err")
        for f in [out, err] { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        var args = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
                    "--user-data-dir=\(dir.appendingPathComponent("chromium-profile-\(UUID().uuidString)").path)"]
        // `<-loopback>` sends even 127.0.0.1 through the proxy: nothing is exempt from the count.
        if let proxy { args += ["--proxy-server=http://127.0.0.1:\(proxy)", "--proxy-bypass-list=<-loopback>"] }
        p.arguments = args + arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.currentDirectoryURL = dir
        try p.run()
        let status = try await ChoreoBinary.wait(p, timeout: 120)
        return (status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }
}

/// A TCP listener on 127.0.0.1 that takes the browser's proxy requests, notes the host each
/// one asks for and answers none: any request the page makes is seen here.
final class ProxyRecorder: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private final class Seen: Sendable { let hosts = Locked<[String]>([]) }
    private let seen = Seen()
    var hosts: [String] { seen.hosts.withLock { $0 } }

    /// Chromium's own background traffic (network time, component updater, account checks): it
    /// asks these hosts even for an empty page, whatever the flags, so it is not the page's.
    static let browserOwn = ["google.com", "googleapis.com", "gvt1.com", "gstatic.com"]

    /// The hosts asked for that are not the browser's own.
    var pageHosts: [String] {
        hosts.filter { h in !Self.browserOwn.contains { h == $0 || h.hasSuffix("." + $0) } }
    }

    init() throws {
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listening, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listening, 64) == 0 else { close(listening); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listening, $0, &len) } }
        fd = listening
        port = Int(UInt16(bigEndian: addr.sin_port))
        let seen = seen
        Thread.detachNewThread {
            while true {
                let c = accept(listening, nil, nil)
                if c < 0 { return }  // closed
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 1024)
                let n = recv(c, &buffer, buffer.count, 0)
                close(c)
                seen.hosts.withLock { $0.append(Self.host(ofRequest: n > 0 ? Array(buffer[..<n]) : [])) }
            }
        }
    }

    /// `GET http://host:port/path HTTP/1.1` or `CONNECT host:443 HTTP/1.1` → `host` ("?" if unreadable).
    static func host(ofRequest bytes: [UInt8]) -> String {
        let line = String(decoding: bytes.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2 else { return "?" }
        var target = Substring(parts[1])
        if let r = target.range(of: "://") { target = target[r.upperBound...] }
        return String(target.prefix { $0 != "/" && $0 != ":" })
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}
