import ChoreoMock
import ChoreoTesting
import Dispatch
import Foundation
import Testing
@testable import ChoreoHTTP

/// The transport against a real TLS server (nginx, `TLSServer`) whose certificate a private CA
/// made for the test signed: verification is on, `caFile` is what makes the server trusted, and
/// HTTP/2 streams to one origin share its connection.
@Suite("TLS and HTTP/2", .enabled(if: TLSServer.unavailable == nil, "\(TLSServer.unavailable ?? "")"))
struct TLSTests {
    static let stream = """
        data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"over TLS"},"finish_reason":null}]}

        data: [DONE]


        """

    static func request(_ server: TLSServer, caFile: String?) -> HTTPRequest {
        HTTPRequest(url: server.baseURL + "/v1/chat/completions", headers: HeaderFields([("content-type", "application/json")]),
                    body: Array(#"{"model":"m","stream":true}"#.utf8), caFile: caFile)
    }

    /// Without the CA's file the system's authorities are all curl has, and none signed the
    /// server's certificate: the handshake fails as `.tls` (curl 60) and no request is sent.
    @Test func aServerSignedByAPrivateCAIsRefusedAsTLSWithoutItsCAFile() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let error = await #expect(throws: TransportError.self) {
                _ = try await CurlTransport.shared.execute(Self.request(server, caFile: nil))
            }
            #expect(error?.kind == .tls, "\(String(describing: error))")
            #expect(error?.curlCode == 60)
            #expect(error?.origin == server.baseURL)
            #expect(server.requests.isEmpty)
        }
    }

    @Test func aServerSignedByAPrivateCAIsTrustedWithItsCAFile() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let response = try await CurlTransport.shared.execute(Self.request(server, caFile: server.caFile))
            #expect(response.status == 200)
            #expect(String(decoding: try await response.body.collect(), as: UTF8.self) == Self.stream)
            try await eventually("nginx to log the request") { server.requests.count == 1 }
        }
    }

    /// A CA file is trusted for what its authorities signed, nothing more: verification stays on.
    @Test func aCAFileThatSignedNothingOfTheServersLeavesItRefused() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let error = await #expect(throws: TransportError.self) {
                _ = try await CurlTransport.shared.execute(Self.request(server, caFile: server.unrelatedCAFile))
            }
            #expect(error?.kind == .tls, "\(String(describing: error))")
            #expect(server.requests.isEmpty)
        }
    }

    /// Requests started together to an origin that speaks HTTP/2 (ALPN) wait for its first
    /// connection (CURLOPT_PIPEWAIT) and go as streams over it, instead of a handshake each.
    @Test func requestsStartedTogetherToAnHTTP2OriginShareOneConnection() async throws {
        let count = 32
        // A connection cache of its own: the shared one may hold a connection to an earlier
        // test's server on this same port, gone since (curl 92 when a stream went over it).
        let transport = CurlTransport()
        try await withTLSServer(http2: true, responseBody: Self.stream) { server in
            // GET, with no body: nginx answers a POST to its static file before reading the body,
            // then resets the stream (NO_ERROR), and curl 7.88 took that reset for a framing error
            // (curl 92) now and then. A provider reads the body it answers.
            let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", method: "GET", caFile: server.caFile)
            let versions = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        let response = try await transport.execute(request)
                        _ = try await response.body.collect()
                        return response.head.version
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(versions == Array(repeating: "HTTP/2", count: count))
            try await eventually("nginx to log \(count) requests") { server.requests.count == count }
            #expect(server.requests.allSatisfy { $0.protocol == "HTTP/2.0" })
            #expect(server.connectionsUsed == 1, "\(count) streams came over \(server.connectionsUsed) connections")
        }
    }

    /// More streams than one HTTP/2 connection may carry (nginx: 128), started together, spread
    /// over a few connections. libcurl 7.88 opens a connection for every transfer that finds the
    /// origin's connections full, blind to the ones still being made: the transfers it held for
    /// the first connection's ALPN, released together, took one new connection each (400
    /// streams: 273 connections). At most `CurlEventLoop.maxUnsent` transfers to an origin wait in
    /// curl for a connection at once; the rest wait in the loop's queue.
    @Test func manyStreamsPastAFullHTTP2ConnectionOpenFewMore() async throws {
        let count = 400
        let transport = CurlTransport()  // its own connection cache (see above)
        let other = try await MockServer.start(config: MockConfig(fixedTokens: 50))  // plain HTTP, for the holder
        // 100 bytes a second: every stream is still open when the last one starts.
        try await withTLSServer(http2: true, responseBody: Self.stream, bytesPerSecond: 100) { server in
            // The loop thread is held in a transfer's sink while the requests are queued, so that
            // it takes them all at once, as it does a claim of many jobs on a busy loop.
            let holder = StallSweepTests.LoopHolder()
            let holding = try await transport.execute(StallSweepTests.streamingRequest(other)) { _ in holder }
            await withCheckedContinuation { c in DispatchQueue.global().async { holder.holding.wait(); c.resume() } }
            let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", method: "GET", caFile: server.caFile)
            let (heads, arrived) = AsyncStream.makeStream(of: Result<HTTPResponse, any Error>.self)
            for _ in 0..<count { transport.send(request, sendingSuccessTo: nil) { arrived.yield($0) } }
            holder.release.signal()
            var statuses: [Int] = []
            for await head in heads {
                let response = try head.get()
                _ = try await response.body.collect()
                statuses.append(response.head.status)
                if statuses.count == count { break }
            }
            #expect(statuses == Array(repeating: 200, count: count))
            try await eventually("nginx to log \(count) requests") { server.requests.count == count }
            // 4 connections at the least (128 streams each); each full moment may open up to
            // `maxUnsent` more at once.
            #expect(server.connectionsUsed <= 4 + 2 * CurlEventLoop.maxUnsent, "\(count) streams came over \(server.connectionsUsed) connections")
            _ = holding
            await withCheckedContinuation { c in DispatchQueue.global().async { holder.ended.wait(); c.resume() } }
        }
        try await other.shutdown()
    }

    /// The transfers past an origin's window wait in the loop's queue, without an easy handle;
    /// stopped there, each ends as cancelled at once, and none is handed to curl afterwards.
    @Test(.timeLimit(.minutes(1))) func transfersWaitingForTheirOriginsWindowEndWhenStopped() async throws {
        // An HTTPS origin whose handshake never ends: a TCP server that never answers. The
        // connection to it stays unsent, so the rest of the window waits behind it.
        let silent = try await ScriptedServer.start { _ in [] }
        let other = try await MockServer.start(config: MockConfig(fixedTokens: 50))
        let transport = CurlTransport()
        let holder = StallSweepTests.LoopHolder()
        let holding = try await transport.execute(StallSweepTests.streamingRequest(other)) { _ in holder }
        await withCheckedContinuation { c in DispatchQueue.global().async { holder.holding.wait(); c.resume() } }
        let count = CurlEventLoop.maxUnsent + 8
        let request = HTTPRequest(url: "https://127.0.0.1:\(silent.port)/v1/models", method: "GET", connectTimeout: 300)
        let group = TransferGroup()
        let (heads, arrived) = AsyncStream.makeStream(of: Result<HTTPResponse, any Error>.self)
        for _ in 0..<count { transport.send(request, in: group, sendingSuccessTo: nil) { arrived.yield($0) } }
        holder.release.signal()
        group.stopAll()
        var cancelled = 0
        for await head in heads {
            if case .failure(let error) = head, error is CancellationError { cancelled += 1 } else { Issue.record("\(head)") }
            if cancelled == count { break }
        }
        #expect(cancelled == count)
        _ = holding
        await withCheckedContinuation { c in DispatchQueue.global().async { holder.ended.wait(); c.resume() } }
        try await silent.shutdown()
        try await other.shutdown()
    }

    /// Over HTTP/1.1 each request in flight needs a connection of its own; the connections of a
    /// busy moment are kept through a quiet one for the next busy one. curl's default cache holds
    /// 4 × the transfers in flight *now*: one request at a time closed all but 4 of 16 idle
    /// connections, and the next 16 requests paid a TLS handshake each again (27 connections).
    @Test func theConnectionsOfABusyMomentAreKeptThroughAQuietOne() async throws {
        let wide = 16
        let transport = CurlTransport()  // its own connection cache, sized by its own peak
        try await withTLSServer(http2: false, responseBody: Self.stream) { server in
            let request = Self.request(server, caFile: server.caFile)
            func together() async throws {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<wide { group.addTask { _ = try await transport.execute(request).body.collect() } }
                    try await group.waitForAll()
                }
            }
            try await together()
            for _ in 0..<wide { _ = try await transport.execute(request).body.collect() }
            try await together()
            try await eventually("nginx to log \(3 * wide) requests") { server.requests.count == 3 * wide }
            #expect(server.requests.allSatisfy { $0.protocol == "HTTP/1.1" })
            #expect(server.connectionsUsed <= wide, "\(3 * wide) requests, at most \(wide) at once, came over \(server.connectionsUsed) connections")
        }
    }

    /// Over TLS curl's buffers are 16 KiB (`CurlTransfer.configure`): a request many times that
    /// (a long prompt) goes in pieces and arrives whole and in order, and so does an answer.
    @Test(arguments: [false, true]) func requestsAndAnswersLargerThanCurlsBuffersArriveWhole(http2: Bool) async throws {
        // Numbered, so that a piece lost, repeated or out of place changes the text.
        let prompt = (0..<30_000).map { "w\($0)" }.joined(separator: " ")  // ~200 KB
        let body = #"{"model":"m","stream":true,"messages":[{"role":"user","content":"\#(prompt)"}]}"#
        let answer = (0..<3_000).map { i in
            #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"t\#(i) "},"finish_reason":null}]}"# + "\n\n"
        }.joined() + "data: [DONE]\n\n"  // ~400 KB
        let transport = CurlTransport()
        try await withTLSServer(http2: http2, responseBody: answer, keepsRequestBodies: true) { server in
            let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", headers: HeaderFields([("content-type", "application/json")]),
                                      body: Array(body.utf8), caFile: server.caFile)
            let response = try await transport.execute(request)
            #expect(response.status == 200)
            #expect(response.head.version == (http2 ? "HTTP/2" : "HTTP/1.1"))
            let received = String(decoding: try await response.body.collect(), as: UTF8.self)
            #expect(received.count == answer.count)
            #expect(received == answer)
            try await eventually("nginx to log the request") { server.requestBodies.count == 1 }
            #expect(server.requestBodies.first?.count == body.count)
            #expect(server.requestBodies.first == body)
        }
    }
}

/// `CAFile.problem(at:)`: what a caller checks before the first request, so a wrong `--cacert` or
/// `ca_file` is a message naming the problem, not a TLS failure of every request.
@Suite struct CAFileTests {
    @Test func aMissingFileIsNamedAsMissing() {
        #expect(CAFile.problem(at: "/nonexistent/ca.pem") == "no such file")
    }

    @Test func aDirectoryIsNoCAFile() {
        let dir = TemporaryDirectory()
        #expect(CAFile.problem(at: dir.path) == "is a directory, not a file of certificates")
    }

    @Test func aFileWithoutAPEMCertificateIsRefusedWithHowToConvertDER() {
        let dir = TemporaryDirectory()
        let der = dir.write("ca.der", bytes: [0x30, 0x82, 0x01, 0x0A, 0x02, 0x82, 0x01, 0x01])
        let key = dir.write("key.pem", lines: ["-----BEGIN PRIVATE KEY-----", "MC4CAQAwBQYDK2VwBCIEIA==", "-----END PRIVATE KEY-----"])
        for path in [der, key] {
            let problem = CAFile.problem(at: path)
            #expect(problem?.hasPrefix("holds no PEM certificate") == true, "\(path): \(String(describing: problem))")
            #expect(problem?.contains("openssl x509 -inform der") == true)
        }
    }

    @Test func aFileLargerThanAnyBundleIsNotReadWhole() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("huge.pem", text: "-----BEGIN CERTIFICATE-----\n")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(CAFile.maxBytes + 1))  // sparse: no disk used
        try handle.close()
        #expect(CAFile.problem(at: path) == "larger than 16 MiB: not a file of certificates")
    }

    @Test func aBundleWithCommentsBeforeItsCertificatesIsAccepted() {
        let dir = TemporaryDirectory()
        let path = dir.write("bundle.pem", lines: ["## Bundle of CA Root Certificates", "", "Test CA", "===", "-----BEGIN CERTIFICATE-----",
                                                   "MIIBdzCCAR2gAwIBAgIU", "-----END CERTIFICATE-----"])
        #expect(CAFile.problem(at: path) == nil)
    }
}
