import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// `delivery: .collected` and `collect()`: the body is parsed on the transport's thread as it
/// arrives. Same results and errors as iterating, against the mock provider on 127.0.0.1: the
/// behaviours both deliveries share (exact text, drops, malformed events, error statuses, stalls,
/// leaving early) are `StreamingClientTests`, run once per delivery; here, what only `collect()` has.
@Suite("Collected streams against the mock provider")
struct CollectedDeliveryTests {
    static let model = "gpt-4o-mini"

    func client(_ server: MockServer, fault: String? = nil) -> ChoreoClient {
        server.client(fault: fault)
    }

    func body(_ prompt: String, maxTokens: Int? = nil) -> JSONValue {
        ChatRequest.body(model: Self.model, messages: [.user(prompt)], maxTokens: maxTokens, includeUsage: true)
    }

    func expected(_ prompt: String, maxTokens: Int? = nil) -> String {
        MockContent.reply(model: Self.model, messages: [ChatMessage.user(prompt).json], maxTokens: maxTokens).text
    }

    func collected(_ c: ChoreoClient, _ prompt: String) async throws -> ChatCompletionStream {
        try await c.stream(body: body(prompt), provider: try c.provider(for: Self.model), delivery: .collected)
    }

    @Test func collectedGivesTheSameCompletionAsIterating() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        let stream = try await collected(c, "Write a short story")
        let completion = try await stream.collect()
        var iterated = ChunkAccumulator()
        for try await chunk in try await c.chat.completions.create(body: body("Write a short story"), stream: true) { iterated.add(chunk) }
        #expect(completion.text == expected("Write a short story"))
        #expect(completion.choices == iterated.completion.choices)  // ids differ: two requests
        #expect(completion.usage == iterated.completion.usage)
        #expect(stream.chunkCount == iterated.chunkCount)
        #expect(stream.outputChunkCount == iterated.outputChunkCount && stream.outputChunkCount > 0)
        #expect(stream.firstOutputAt != nil)
        #expect(stream.bytesReceived > 0)
        // Iterating a collected stream yields no chunks, and ends.
        var n = 0
        for try await _ in stream { n += 1 }
        #expect(n == 0)
    }

    @Test func onEndAfterIteratingToTheEndReportsTheEndAtOnce() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await client(server).chat.completions.create(body: body("Done already"), stream: true)
        for try await _ in stream {}
        let ok = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            stream.onEnd { end in if case .success = end { done.resume(returning: true) } else { done.resume(returning: false) } }
        }
        #expect(ok)
        #expect(stream.text == expected("Done already"))
    }

    @Test func onEndOfAWholeCompletionHasItsText() async throws {
        // stream: false gives a stream over a finished completion: onEnd reports it with the text in.
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await client(server).chat.completions.create(
            model: Self.model, messages: [.user("Not streamed")], stream: false)
        let ok = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            stream.onEnd { end in if case .success = end { done.resume(returning: true) } else { done.resume(returning: false) } }
        }
        #expect(ok)
        #expect(stream.text == expected("Not streamed"))
    }

    @Test func collectAfterIteratingSomeChunksGetsTheRest() async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(5)))
        defer { Task { try? await server.shutdown() } }
        let stream = try await client(server).chat.completions.create(body: body("Half and half"), stream: true)
        var n = 0
        for try await _ in stream {
            n += 1
            if n == 3 { break }
        }
        let completion = try await stream.collect()
        #expect(completion.text == expected("Half and half"))
    }

    @Test func onEndReportsTheEndWithoutAWaitingTask() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        let ok = try await collected(c, "Write a short story")
        let dropped = try await collected(client(server, fault: "drop:3"), "Tell me about moons")
        let ends = await withCheckedContinuation { (done: CheckedContinuation<[Result<Void, any Error>], Never>) in
            let box = EndsBox(expected: 2, done: done)
            ok.onEnd { box.add($0) }
            dropped.onEnd { box.add($0) }
        }
        #expect(ends.filter { if case .success = $0 { return true } else { return false } }.count == 1)
        let failure = ends.compactMap { if case .failure(let e) = $0 { return e as? StreamError } else { return nil } }.first
        #expect(failure?.kind == .interrupted)
        #expect(ok.text == expected("Write a short story"))
        // Registered after the end: called at once, with the same end.
        let again = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            ok.onEnd { end in if case .success = end { done.resume(returning: true) } else { done.resume(returning: false) } }
        }
        #expect(again)
    }

    /// `onEnd` takes the request over: a stream dropped once its end handler is registered runs on
    /// to its end (the batch runner keeps no stream but the one its handler captures), and the
    /// handler hears that end, not a cancel. The end is a stall: the server goes silent after 4
    /// chunks, so the stream cannot end before it is dropped.
    @Test func aStreamDroppedAfterOnEndRunsToItsEnd() async throws {
        try await withMockServer { server in
            let (ends, heard) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
            let endedEarly = EndsBox.Flag()
            do {
                let stream = try await collected(server.client(fault: "stall:4", stallTimeout: 5), "a long answer please")
                stream.onEnd { end in
                    endedEarly.set()
                    heard.yield(end)
                }
                #expect(!endedEarly.isSet, "the stream ended before it was dropped: the test proves nothing")
            }
            var iterator = ends.makeAsyncIterator()
            let end = await iterator.next()
            guard case .failure(let error as StreamError)? = end else {
                Issue.record("the dropped stream did not end with its stall: \(String(describing: end))")
                return
            }
            #expect(error.underlying?.kind == .stalled)
            #expect(!error.partialText.isEmpty)
        }
    }

    @Test func aSecondIteratorOfAStreamStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            try await withMockServer { server in
                let stream = try await server.client().chat.completions.create(
                    model: CollectedDeliveryTests.model, messages: [.user("Write a short story")], stream: true)
                for try await _ in stream { break }
                for try await _ in stream {}
            }
        }
        let message = exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
        #expect(message.contains("ChatCompletionStream.makeAsyncIterator() was called a second time"), "\(message)")
    }
}

/// Collects `expected` stream ends from the transport's thread.
private final class EndsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var ends: [Result<Void, any Error>] = []
    private let expected: Int
    private let done: CheckedContinuation<[Result<Void, any Error>], Never>

    init(expected: Int, done: CheckedContinuation<[Result<Void, any Error>], Never>) {
        self.expected = expected
        self.done = done
    }

    func add(_ end: Result<Void, any Error>) {
        lock.lock()
        ends.append(end)
        let all = ends.count == expected ? ends : nil
        lock.unlock()
        if let all { done.resume(returning: all) }
    }

    /// Set once, from any thread.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.lock(); value = true; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    }
}
