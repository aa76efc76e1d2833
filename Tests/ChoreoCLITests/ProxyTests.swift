import ChoreoMock
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing
@testable import ChoreoAI
import ChoreoHTTP

/// A real tinyproxy (Debian's `tinyproxy`, installed by scripts/setup.sh) on a free loopback
/// port, logging every connection it relays. Stopped by its pid.
struct TinyProxy {
    let process: Process
    let port: Int
    let logFile: URL

    var url: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Why the proxy tests cannot run here, or nil when tinyproxy is installed (installing it with
    /// apt-get when it is missing and this process may).
    static let unavailable: String? = {
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/tinyproxy") { return nil }
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/bin/sh")
        install.arguments = ["-c", "command -v apt-get >/dev/null && [ \"$(id -u)\" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tinyproxy >/dev/null 2>&1"]
        try? install.run()
        install.waitUntilExit()
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/tinyproxy") { return nil }
        return "tinyproxy is not installed and apt-get could not install it (run scripts/setup.sh as root)"
    }()

    static func start() throws -> TinyProxy {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try LoopbackPort.free()
        // No ConnectPort line: CONNECT is allowed to any port (the test servers' are ephemeral).
        let config = directory.appendingPathComponent("tinyproxy.conf")
        try """
            Port \(port)
            Listen 127.0.0.1
            Timeout 60
            MaxClients 200
            Allow 127.0.0.1
            LogLevel Connect
            """.write(to: config, atomically: true, encoding: .utf8)
        let logFile = directory.appendingPathComponent("tinyproxy.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tinyproxy")
        p.arguments = ["-d", "-c", config.path]  // -d: in the foreground, logging to stderr
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let proxy = TinyProxy(process: p, port: port, logFile: logFile)
        // Ready when it accepts a connection (however long its start takes on a loaded machine).
        for _ in 0..<500 {
            if LoopbackPort.accepts(port) { return proxy }
            guard p.isRunning else { break }
            usleep(20_000)
        }
        let log = proxy.log
        proxy.stop()
        throw ProxyError(message: "tinyproxy did not start: \(log)")
    }

    /// SIGKILL: tinyproxy in the foreground does not exit on SIGTERM while it has idle children.
    /// Its folder (configuration and log) goes with it.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: logFile.deletingLastPathComponent())
    }

    struct ProxyError: Error, CustomStringConvertible { let message: String; var description: String { message } }
}

@Suite("Proxies", .enabled(if: TinyProxy.unavailable == nil, "\(TinyProxy.unavailable ?? "")"))
struct ProxyTests {
    static let rateLimited = ScriptedServer.errorReply(status: "429 Too Many Requests", headers: ["retry-after: 3"],
                                                       json: #"{"error":{"message":"slow down","type":"rate_limit_error"}}"#)

    /// Through a real proxy's CONNECT tunnel the origin's own status reaches the caller. The
    /// proxy's `200 Connection established` was taken for the response head, so a 429 (or a
    /// 401) became a 200 that broke off, retried as "interrupted".
    @Test func aStatusBehindAConnectTunnelIsTheOriginsOwn() async throws {
        let proxy = try TinyProxy.start()
        defer { proxy.stop() }
        try await withScriptedServer(answering: { _ in [.send(Self.rateLimited)] }) { server in
        var request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", body: Array("{}".utf8))
        request.proxy = HTTPRequest.Proxy(url: proxy.url, tunnel: true)
        let response = try await CurlTransport.shared.execute(request)
        #expect(response.status == 429)
        #expect(response.headers["retry-after"] == "3")
        #expect(String(decoding: try await response.body.collect(), as: UTF8.self).contains("slow down"))
        #expect(server.requests.count == 1)
        #expect(proxy.log.contains("CONNECT 127.0.0.1:\(server.port)"), "not tunnelled through the proxy: \(proxy.log)")
    }
    }

    /// `choreo run` honours `http_proxy` from the environment (as libcurl does): every request
    /// goes through the proxy, a 429 behind it is seen as one, and the run completes.
    @Test func aRunGoesThroughTheProxyOfTheEnvironment() async throws {
        let proxy = try TinyProxy.start()
        defer { proxy.stop() }
        let first = Locked(true)
        try await withScriptedServer(answering: { _ in
            if first.withLock({ isFirst in defer { isFirst = false }; return isFirst }) {
                return [.send(ScriptedServer.errorReply(status: "429 Too Many Requests", headers: ["retry-after-ms: 100"],
                                                        json: #"{"error":{"message":"slow down","type":"rate_limit_error"}}"#))]
            }
            return [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("proxied"))]
        }) { server in
        let fixture = try Fixture(count: 3)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--concurrency", "1", "--quiet"], directory: fixture.directory,
                                       environment: ["OPENAI_BASE_URL": server.baseURL + "/v1", "CHOREO_CONFIG": "",
                                                     "http_proxy": proxy.url, "no_proxy": "", "NO_PROXY": ""])
        #expect(try await ChoreoBinary.wait(p, timeout: 60) == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'proxied'") == 3)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'rate_limited'") == 1)
        #expect(server.requests.count == 4)
        let relayed = proxy.log.components(separatedBy: "Request (file descriptor").count - 1
        #expect(relayed == 4, "the proxy relayed \(relayed) requests: \(proxy.log)")
    }
    }
}
