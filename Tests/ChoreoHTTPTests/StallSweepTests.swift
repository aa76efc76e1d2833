import ChoreoMock
import ChoreoTesting
import Dispatch
import Testing
@testable import ChoreoHTTP

/// The stall watchdog counts only silence of the server: time a transfer spends paused because
/// its consumer is behind is not a stall, nor is the moment between the consumer catching up
/// and the loop lifting the pause. The same sweep ends a transfer past its total `timeout`,
/// however steadily it streams.
@Suite("Stall sweep and backpressure")
struct StallSweepTests {
    static func streamingRequest(_ server: MockServer, stallTimeout: Double = 60) -> HTTPRequest {
        HTTPRequest(url: server.baseURL + "/v1/chat/completions", headers: HeaderFields([("content-type", "application/json")]),
                    body: Array(#"{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"a long answer"}]}"#.utf8),
                    stallTimeout: stallTimeout)
    }

    /// A body sink that holds the loop thread inside its first `receive` until released: the one
    /// way to make "the loop has not yet seen the consumer's resume" last long enough to test.
    final class LoopHolder: BodySink, @unchecked Sendable {
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let ended = DispatchSemaphore(value: 0)
        private var first = true  // loop thread only
        func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
            if first {
                first = false
                holding.signal()
                release.wait()
            }
            return true
        }
        func finish(_ result: Result<Void, any Error>) { ended.signal() }
    }

    @Test func aConsumerCatchingUpAfterAPauseIsNotAStalledServer() async throws {
        let server = try await MockServer.start(config: MockConfig(fixedTokens: 10_000))  // a few MB: past the high-water mark
        // Short, yet longer than the in-process mock may fall silent on a loaded machine while it
        // composes a long reply (2 s was not, at width 2 with the whole suite beside it).
        let stallTimeout = 5.0
        // A transport of the test's own: holding its loop thread below freezes no other test's transfers.
        let transport = CurlTransport()
        let response = try await transport.execute(Self.streamingRequest(server, stallTimeout: stallTimeout))
        let transfer = response.body.owner.transfer
        // The consumer does not read: the transfer fills its buffer and pauses.
        try await eventually("the transfer to pause") { transfer.waitsForConsumer }
        // Paused for longer than the stall timeout (the clock must be old for the sweep to care).
        try await Task.sleep(for: .seconds(stallTimeout * 1.5))
        #expect(!transfer.isFinished, "a paused transfer was ended while its consumer was behind")

        // Hold the loop thread in another transfer's sink, then catch up: the resume waits in
        // the loop's queue while the loop finishes its iteration, stall sweep included.
        let holder = LoopHolder()
        let other = try await transport.execute(Self.streamingRequest(server)) { _ in holder }
        await withCheckedContinuation { c in DispatchQueue.global().async { holder.holding.wait(); c.resume() } }
        var iterator = response.body.makeAsyncIterator()
        var bytes = try await iterator.next()?.count ?? 0
        try await Task.sleep(for: .milliseconds(300))  // longer than the sweep interval (250 ms): the next iteration sweeps
        holder.release.signal()

        while let chunk = try await iterator.next() { bytes += chunk.count }
        #expect(bytes > 1 << 20)
        _ = other
        await withCheckedContinuation { c in DispatchQueue.global().async { holder.ended.wait(); c.resume() } }
        try await server.shutdown()
    }

    @Test func aStreamStillMakingProgressEndsWhenItsTotalTimeoutPasses() async throws {
        // A chunk every 50 ms, far inside the stall timeout, for about 30 s: only the total bound can end it early.
        // The bound leaves a loaded machine time to get the head (a timeout before it is another test's).
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(50), fixedTokens: 600)) { server in
            var request = Self.streamingRequest(server, stallTimeout: 60)
            request.timeout = 3
            let response = try await CurlTransport.shared.execute(request)
            #expect(response.head.status == 200)
            var bytes = 0
            let error = await #expect(throws: TransportError.self) {
                for try await chunk in response.body { bytes += chunk.count }
            }
            #expect(error?.kind == .timedOut, "\(String(describing: error))")
            #expect(error?.description.contains("timeout of 3 s") == true, "\(String(describing: error))")
            #expect(bytes > 0, "the stream made progress before its timeout")
        }
    }

    /// A stall says whether any of the answer had come: a server that never answered (past the
    /// first-byte timeout) and one that stopped halfway are different failures to the person
    /// reading the error.
    @Test func aStallSaysWhetherTheServerAnsweredAtAll() async throws {
        let server = try await ScriptedServer.start { request in
            request.bodyText.contains("silent")
                ? [.pause(seconds: 30)]
                : [.send(ScriptedServer.eventStreamHead()), .send("data: {}\n\n"), .pause(seconds: 30)]
        }
        // Long enough that a loaded machine's late answer is not taken for no answer at all.
        let stallTimeout = 3.0
        func stall(_ name: String) async throws -> TransportError? {
            let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", headers: HeaderFields([("content-type", "application/json")]),
                                      body: Array(#"{"name":"\#(name)"}"#.utf8), stallTimeout: stallTimeout, firstByteTimeout: stallTimeout)
            return await #expect(throws: TransportError.self) {
                let response = try await CurlTransport.shared.execute(request)
                for try await _ in response.body {}
            }
        }
        async let silentStall = stall("silent"), halfwayStall = stall("halfway")
        let (silent, halfway) = try await (silentStall, halfwayStall)
        #expect(silent?.kind == .stalled, "\(String(describing: silent))")
        #expect(silent?.message.hasPrefix("no byte of an answer for 3 s since the request went out (the first-byte timeout") == true,
                "\(String(describing: silent))")
        #expect(halfway?.kind == .stalled, "\(String(describing: halfway))")
        let answered = ScriptedServer.eventStreamHead().utf8.count + "data: {}\n\n".utf8.count
        #expect(halfway?.message.hasSuffix("for 3 s, \(answered) bytes of the answer in") == true, "\(String(describing: halfway))")
        try await server.shutdown()
    }

    /// A request that waits in curl's queue for a connection (every allowed one busy) has sent
    /// nothing yet: its silence counts from when it goes out on one, not from when it was queued.
    /// The stall clock counted from the queueing, so a request queued for longer than its stall
    /// timeout was ended as stalled the moment its connection came, before the server could
    /// answer. A run of more streams than its open files allow queues them so (HTTP/2 shares
    /// connections; over HTTP/1.1 the rest wait for one).
    @Test func aRequestQueuedForAConnectionIsNotStalledWhenItGetsOne() async throws {
        // Every legitimate silence here is far inside it (0.1 s and 0.5 s), so that a loaded
        // machine's late threads cannot make one look like a stall.
        let stallTimeout = 5.0
        let server = try await ScriptedServer.start { request in
            if request.bodyText.contains("first") {
                // Busy for longer than the stall timeout, steadily (never stalled itself).
                return [.send(ScriptedServer.eventStreamHead()),
                        .repeating([.send("data: {}\n\n"), .pause(seconds: 0.1)], times: Int(stallTimeout * 1.5 / 0.1)),
                        .send("data: [DONE]\n\n")]
            }
            // A server thinking before the head, for two of the loop's stall sweeps (every 0.25 s):
            // long enough that a clock started at the queueing ends the request as stalled.
            return [.pause(seconds: 0.5), .send(ScriptedServer.eventStreamHead()), .send("data: [DONE]\n\n")]
        }
        func request(_ name: String) -> HTTPRequest {
            HTTPRequest(url: server.baseURL + "/v1/chat/completions", headers: HeaderFields([("content-type", "application/json")]),
                        body: Array(#"{"name":"\#(name)"}"#.utf8), stallTimeout: stallTimeout)
        }
        // A transport of the test's own, allowed one connection.
        let transport = CurlTransport()
        transport.limitConnections(to: 1)
        let clock = ContinuousClock(), start = clock.now
        // Where a failure happened, for its message: which request, how far in, what the server saw.
        func when() -> String {
            "after \(clock.now - start), the server having received \(server.requests.map(\.bodyText)); its log: \(server.log.joined(separator: "; "))"
        }
        let first = try await transport.execute(request("first"))
        #expect(first.head.status == 200)
        // The first holds the one connection: the second waits in curl's queue until it closes.
        async let second = transport.execute(request("second"))
        var firstBytes = 0
        do {
            for try await chunk in first.body { firstBytes += chunk.count }
        } catch {
            Issue.record("the first stream failed \(when()), \(firstBytes) bytes in: \(error)")
            _ = try? await second
            return
        }
        let firstEnded = clock.now - start
        #expect(firstBytes > 0)
        let response: HTTPResponse
        do {
            response = try await second
        } catch {
            // The regression: the clock counted the queueing, and the request ended as stalled as
            // soon as it was sent (within a sweep or two), well inside its stall timeout.
            Issue.record("the second request failed \(when()); the first ended after \(firstEnded): \(error)")
            return
        }
        #expect(response.head.status == 200)
        var text = ""
        for try await chunk in response.body { text += String(decoding: chunk, as: UTF8.self) }
        #expect(text == "data: [DONE]\n\n")
        #expect(server.requests.count == 2)
        try await server.shutdown()
    }
}
