import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real HTTPS server for the TLS tests: nginx on a free loopback port, with a certificate
/// authority and a server certificate (for `127.0.0.1` and `localhost`) that openssl makes for
/// the test. It answers every request, POST included, with `body` as `text/event-stream`, and logs
/// each request's connection so a test can count the connections a client opened. With
/// `keepsRequestBodies` it reads each request's whole body first and logs it (`requestBodies`).
///
/// Started and stopped by `withTLSServer`; nginx runs in the foreground (no daemon, no master
/// process), as a child of the test process, and is killed by its pid.
public final class TLSServer {
    public let port: Int
    /// The authority that signed the server's certificate (PEM): the file a client must trust.
    public let caFile: String
    /// A second authority that signed nothing of this server's: trusting it must not help.
    public let unrelatedCAFile: String
    /// Whether the server offers HTTP/2 in ALPN (nginx `listen … http2`).
    public let http2: Bool
    private let directory: TemporaryDirectory
    private let process: Process

    public var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Why the TLS tests cannot run here (nginx or openssl missing), or nil.
    public static let unavailable: String? = {
        let missing = ["nginx", "openssl"].filter { executable($0) == nil }
        return missing.isEmpty ? nil : "\(missing.joined(separator: " and ")) not installed (scripts/setup.sh installs them)"
    }()

    /// One line per request nginx finished: its connection's serial number, the request's number
    /// on that connection, and the protocol (`HTTP/2.0`, `HTTP/1.1`).
    public var requests: [(connection: String, protocol: String)] {
        directory.read("access.log").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count >= 3 ? (String(fields[0]), String(fields[2])) : nil
        }
    }

    /// How many connections the finished requests came over.
    public var connectionsUsed: Int { Set(requests.map(\.connection)).count }

    /// The bodies of the finished requests, each as nginx received it (`keepsRequestBodies`
    /// only; one a line, so a body must not hold a line break).
    public var requestBodies: [String] {
        directory.read("bodies.log").split(separator: "\n").map(String.init)
    }

    fileprivate init(http2: Bool, body: String, bytesPerSecond: Int?, keepsRequestBodies: Bool) async throws {
        self.http2 = http2
        directory = TemporaryDirectory("choreo-tls")
        let dir = directory.path
        // A Unix socket's path holds at most 107 bytes (`sun_path`).
        if keepsRequestBodies && "\(dir)/answer.sock".utf8.count > 107 {
            throw StartFailure(log: "\(dir)/answer.sock is longer than a Unix socket's path may be: set TMPDIR to a shorter folder")
        }
        try FileManager.default.createDirectory(atPath: "\(dir)/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/www", withIntermediateDirectories: true)
        directory.write("www/response", text: body)
        try Self.makeCertificates(in: dir)
        caFile = "\(dir)/ca.pem"
        unrelatedCAFile = "\(dir)/other-ca.pem"

        // A free port can be taken between the probe and nginx's bind: then nginx exits at once
        // and the next port is tried.
        var attempt = 0
        while true {
            attempt += 1
            let port = try LoopbackPort.free()
            directory.write("nginx.conf", text: Self.configuration(directory: dir, port: port, http2: http2, bytesPerSecond: bytesPerSecond,
                                                                          keepsRequestBodies: keepsRequestBodies))
            _ = FileManager.default.createFile(atPath: "\(dir)/access.log", contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.executable("nginx")!)
            p.arguments = ["-p", dir, "-e", "\(dir)/error.log", "-c", "\(dir)/nginx.conf"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            do {
                try await eventually("nginx accepting TLS on 127.0.0.1:\(port)", timeout: 30) {
                    guard p.isRunning else { throw StartFailure(log: (try? String(contentsOfFile: "\(dir)/error.log", encoding: .utf8)) ?? "") }
                    return LoopbackPort.accepts(port)
                }
            } catch let failure as StartFailure where attempt < 3 && failure.log.contains("Address already in use") {
                continue
            } catch {
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
                p.waitUntilExit()
                throw error
            }
            self.port = port
            self.process = p
            return
        }
    }

    /// SIGKILL: nginx inherits the test process's blocked signals, and without a master process
    /// it never unblocks SIGTERM or SIGQUIT. Nothing of it needs cleaning up but its directory.
    fileprivate func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    struct StartFailure: Error, CustomStringConvertible {
        let log: String
        var description: String { "nginx did not start: \(log)" }
    }

    /// `keepsRequestBodies`: the TLS server hands each request to a second server on a Unix
    /// socket that answers it, which makes nginx read the whole body (into memory, up to 16 MiB)
    /// before it answers, and so log it.
    private static func configuration(directory dir: String, port: Int, http2: Bool, bytesPerSecond: Int?, keepsRequestBodies: Bool) -> String {
        let answer = """
                    default_type text/event-stream;
                    try_files /response =404;
                    # Static files refuse POST with 405; this turns it into the file.
                    error_page 405 =200 /response;
            """
        let handler = keepsRequestBodies ? """
                    access_log \(dir)/access.log connections;
                    access_log \(dir)/bodies.log bodies;
                    client_max_body_size 16m;
                    client_body_buffer_size 16m;
                    proxy_pass http://unix:\(dir)/answer.sock;
            """ : answer
        let answeringServer = keepsRequestBodies ? """
                server {
                    listen unix:\(dir)/answer.sock;
                    access_log off;
                    root \(dir)/www;
                    location / {
            \(answer)
                    }
                }
            """ : ""
        return """
        worker_processes 1;
        daemon off;
        master_process off;
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log warn;
        events { worker_connections 1024; }
        http {
            log_format connections '$connection $connection_requests $server_protocol';
            log_format bodies escape=none '$request_body';
            access_log \(dir)/access.log connections;
            client_body_temp_path \(dir)/tmp;
            proxy_temp_path \(dir)/tmp;
            fastcgi_temp_path \(dir)/tmp;
            uwsgi_temp_path \(dir)/tmp;
            scgi_temp_path \(dir)/tmp;
            keepalive_requests 1000000;
            server {
                listen 127.0.0.1:\(port) ssl\(http2 ? " http2" : "");
                ssl_certificate \(dir)/server.pem;
                ssl_certificate_key \(dir)/server.key;
                ssl_protocols TLSv1.2 TLSv1.3;
                root \(dir)/www;
                location / {
        \(handler)
                    \(bytesPerSecond.map { "limit_rate \($0);" } ?? "")
                }
            }
        \(answeringServer)
        }
        """
    }

    /// A CA, a server certificate it signs, and an unrelated CA, all EC P-256 (quick to make).
    private static func makeCertificates(in dir: String) throws {
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(dir)/san.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.pem", "-days", "2", "-subj", "/CN=Choreo test CA"])
        try openssl(["req", "-x509"] + ec + ["-keyout", "\(dir)/other-ca.key", "-out", "\(dir)/other-ca.pem", "-days", "2", "-subj", "/CN=Choreo test CA"])
        try openssl(["req"] + ec + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=127.0.0.1"])
        try openssl(["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key", "-CAcreateserial",
                     "-out", "\(dir)/server.pem", "-days", "2", "-extfile", "\(dir)/san.ext"])
    }

    private static func openssl(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable("openssl")!)
        p.arguments = arguments
        let errors = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errors
        try p.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw StartFailure(log: "openssl \(arguments.joined(separator: " ")): \(String(decoding: message, as: UTF8.self))")
        }
    }

    private static func executable(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"]
        return path.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Runs `body` with an nginx HTTPS server (`TLSServer`) answering every request with `body`, and
/// stops it before returning, also when `body` throws. `bytesPerSecond`: each response sent no
/// faster (nginx `limit_rate`), so that many streams are open at once. `keepsRequestBodies`: each
/// request's body read whole and kept (`TLSServer.requestBodies`).
public func withTLSServer<T>(
    http2: Bool = false, responseBody: String, bytesPerSecond: Int? = nil, keepsRequestBodies: Bool = false,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (TLSServer) async throws -> T
) async throws -> T {
    let server = try await TLSServer(http2: http2, body: responseBody, bytesPerSecond: bytesPerSecond, keepsRequestBodies: keepsRequestBodies)
    defer { server.stop() }
    return try await body(server)
}
