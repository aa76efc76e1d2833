import ChoreoMock
import Foundation
import Testing
@testable import ChoreoAI

/// `delivery: .collected` and `collect()`: the body is parsed on the transport's thread as it
/// arrives. Same results and errors as iterating, against the mock provider on 127.0.0.1.
@Suite("Collected streams against the mock provider")
struct CollectedDeliveryTests {
    static let model = "gpt-4o-mini"

    func client(_ server: MockServer, fault: String? = nil) -> ChoreoAI {
        server.client(fault: fault)
    }

    func body(_ prompt: String, maxTokens: Int? = nil) -> JSONValue {
        ChatRequest.body(model: Self.model, messages: [.user(prompt)], maxTokens: maxTokens, includeUsage: true)
    }

    func expected(_ prompt: String, maxTokens: Int? = nil) -> String {
        MockContent.reply(model: Self.model, messages: [ChatMessage.user(prompt).json], maxTokens: maxTokens).text
    }

    func collected(_ c: ChoreoAI, _ prompt: String) async throws -> ChatCompletionStream {
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

    @Test func manyCollectedStreamsAtOnceAreExact() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let text = try await collected(c, "prompt \(i)").collect().text
                    #expect(text == expected("prompt \(i)"))
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aDropIsInterruptedWithThePartialText() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await collected(client(server, fault: "drop:3"), "Tell me about moons")
        do {
            _ = try await stream.collect()
            Issue.record("the stream should have been interrupted")
        } catch let e as StreamError {
            #expect(e.kind == .interrupted)
            #expect(!e.partialText.isEmpty)
            #expect(e.partialText == stream.text)
            #expect(expected("Tell me about moons").hasPrefix(e.partialText))
        }
    }

    @Test func aMalformedEventEndsTheTransfer() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await collected(client(server, fault: "malformed:2"), "x")
        let error = await #expect(throws: StreamError.self) { _ = try await stream.collect() }
        // The broken event ends it as such, naming where in which event the JSON broke, and keeping
        // the text of the two good chunks before it.
        #expect(error?.kind == .malformedEvent)
        #expect(error?.partialText == MockContent.tokens(model: Self.model, messages: [ChatMessage.user("x").json]).prefix(2).joined())
        #expect(error?.message.contains(#"invalid JSON at byte 7"#) == true, "\(error.map { "\($0)" } ?? "no error")")
        #expect(error?.message.hasSuffix(#"in {"id": broken"#) == true, "\(error.map { "\($0)" } ?? "no error")")
    }

    @Test func anErrorStatusIsAnAPIErrorWithItsBody() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        do {
            _ = try await collected(client(server, fault: "quota"), "x")
            Issue.record("expected a 429")
        } catch let e as APIError {
            #expect(e.status == 429)
            #expect(Failure.classify(e).kind == "quota")
        }
    }

    @Test func cancelEndsCollectAndClosesTheConnection() async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(100)))
        defer { Task { try? await server.shutdown() } }
        let stream = try await collected(client(server), "a long answer please")
        let waiting = Task { try await stream.collect() }
        for _ in 0..<250 where stream.chunkCount < 2 { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(stream.chunkCount >= 2, "chunks arrive while the task waits")
        stream.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        for _ in 0..<250 where server.stats().closedByClient == 0 { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(server.stats().closedByClient == 1)
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
}
