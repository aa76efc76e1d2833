import ChoreoMock
import ChoreoTesting
import Foundation
import Synchronization
import Testing
@testable import ChoreoAI

/// The client against a real server on 127.0.0.1 (the mock provider), through libcurl. A test
/// that takes a `delivery` checks one behaviour for each way a stream reaches its caller:
/// iterating its chunks, `collect()` after a task waited for the head, and `collect()` of a stream
/// handed over by `send` (`CollectedDeliveryTests` has what only `collect()` does).
@Suite("Streaming client against the mock provider")
struct StreamingClientTests {
    static let model = "gpt-4o-mini"

    /// A client whose providers all point at `server`; `fault` is sent as `x-mock-fault`.
    func client(_ server: MockServer, fault: String? = nil, stallTimeout: Double = 60) -> ChoreoClient {
        server.client(fault: fault, stallTimeout: stallTimeout)
    }

    func expected(_ prompt: String, maxTokens: Int? = nil) -> (text: String, finishReason: String) {
        MockContent.reply(model: Self.model, messages: [ChatMessage.user(prompt).json], maxTokens: maxTokens)
    }

    /// How a stream reaches its caller.
    enum Delivery: CustomStringConvertible {
        /// `stream(delivery: .chunks)`, iterated.
        case chunks
        /// `stream(delivery: .collected)`, collected.
        case collected
        /// `send(onHead:)`, its stream collected: no task waited for the head.
        case sent
        var description: String { "\(self == .chunks ? "chunks" : self == .collected ? "collected" : "sent")" }
    }

    /// Every way a stream reaches its caller: the behaviours below hold for each.
    static let deliveries: [Delivery] = [.chunks, .collected, .sent]

    /// A stream of the answer to `prompt`, delivered as `delivery` says.
    func open(_ c: ChoreoClient, _ prompt: String, _ delivery: Delivery) async throws -> ChatCompletionStream {
        let body = ChatRequest.body(model: Self.model, messages: [.user(prompt)], includeUsage: true)
        let provider = try c.provider(for: Self.model)
        switch delivery {
        case .chunks: return try await c.stream(body: body, provider: provider, delivery: .chunks)
        case .collected: return try await c.stream(body: body, provider: provider, delivery: .collected)
        case .sent:
            return try await withCheckedThrowingContinuation { head in
                c.send(body: body, provider: provider) { head.resume(with: $0) }
            }
        }
    }

    /// What reached the caller of a stream.
    struct Reading {
        /// The chunks, in order (none for `.collected`: such a stream yields none).
        var chunks: [ChatCompletionChunk] = []
        /// The text: the chunks' for `.chunks`, the collected stream's for `.collected`.
        var text = ""
    }

    /// Reads `stream` to its end the way `delivery` is meant to be read: iterating its chunks, or
    /// `collect()`. `reading` keeps what came through, also when it throws.
    func read(_ stream: ChatCompletionStream, _ delivery: Delivery, into reading: inout Reading) async throws -> ChatCompletion {
        switch delivery {
        case .chunks:
            var accumulator = ChunkAccumulator()
            for try await chunk in stream {
                reading.chunks.append(chunk)
                reading.text += chunk.content ?? ""
                accumulator.add(chunk)
            }
            return accumulator.completion
        case .collected, .sent:
            defer { reading.text = stream.text }
            return try await stream.collect()
        }
    }

    @Test(arguments: deliveries)
    func streamsTheExactDeterministicText(delivery: Delivery) async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await open(client(server), "Write a short story", delivery)
        var reading = Reading()
        let completion = try await read(stream, delivery, into: &reading)
        #expect(completion.text == expected("Write a short story").text)
        #expect(reading.text == completion.text)
        #expect(completion.choices.first?.finishReason == .stop)
        #expect(stream.head?.status == 200)
        if delivery == .chunks {
            #expect(reading.chunks.compactMap { $0.choices.first?.delta.role } == [.assistant])
        }
    }

    @Test func maxTokensEndsWithLength() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let completion = try await client(server).chat.completions.create(
            model: Self.model, messages: [.user("Explain Python")], stream: true, maxTokens: 5, includeUsage: true).collect()
        #expect(completion.text == expected("Explain Python", maxTokens: 5).text)
        #expect(completion.choices[0].finishReason == .length)
        #expect(completion.usage?.completionTokens == 5)
    }

    /// The raw-body `create(body:stream: false)` asks for no stream, as the typed one does: the
    /// server streams nothing and the answer arrives as one chunk.
    @Test func rawBodyCreateWithoutStreamDoesNotStream() async throws {
        try await withMockServer { server in
        let body: JSONValue = ["model": .string(Self.model), "messages": [ChatMessage.user("Say hi").json]]
        let stream = try await client(server).chat.completions.create(body: body, stream: false)
        var chunks: [ChatCompletionChunk] = []
        for try await chunk in stream { chunks.append(chunk) }
        #expect(chunks.count == 1)
        #expect(chunks.first?.content == expected("Say hi").text)
        #expect(server.stats().streamsPeak == 0, "the server streamed the reply")
        }
    }

    @Test func nonStreamingCreateReturnsTheWholeCompletion() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let completion = try await client(server).chat.completions.create(model: Self.model, messages: [.user("Say hi")])
        #expect(completion.text == expected("Say hi").text)
        #expect(completion.choices[0].finishReason == .stop)
    }

    @Test(arguments: deliveries)
    func twoHundredConcurrentStreamsCompleteExactly(delivery: Delivery) async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(2)))
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        let mismatches = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let prompt = "question \(i)"
                    var reading = Reading()
                    let completion = try await read(open(c, prompt, delivery), delivery, into: &reading)
                    return completion.text == expected(prompt).text
                }
            }
            var bad = 0
            for try await ok in group where !ok { bad += 1 }
            return bad
        }
        #expect(mismatches == 0)
        #expect(server.stats().streamsPeak > 1)
    }

    @Test(arguments: deliveries)
    func dropSurfacesAsInterruptedWithThePartialText(delivery: Delivery) async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await open(client(server, fault: "drop:3"), "Tell me about moons", delivery)
        var reading = Reading()
        do {
            _ = try await read(stream, delivery, into: &reading)
            Issue.record("the stream should have been interrupted")
        } catch let e as StreamError {
            #expect(e.kind == .interrupted)
            #expect(e.partialText == reading.text)
            #expect(e.partialText == stream.text)
            #expect(!reading.text.isEmpty)
            #expect(expected("Tell me about moons").text.hasPrefix(reading.text))
            #expect(RequestFailure.classify(e).retryable)
        }
    }

    @Test(arguments: deliveries)
    func rateLimitSurfacesWithRetryAfterBeforeAnyBody(delivery: Delivery) async throws {
        let server = try await MockServer.start(config: MockConfig(retryAfterMs: 1500))
        defer { Task { try? await server.shutdown() } }
        do {
            _ = try await open(client(server, fault: "429"), "x", delivery)
            Issue.record("expected a 429")
        } catch let e as APIError {
            #expect(e.status == 429)
            #expect(e.retryAfter == 1.5)
            #expect(RequestFailure.classify(e).kind == "rate_limited")
            #expect(RequestFailure.classify(e).retryable)
        }
    }

    @Test(arguments: deliveries)
    func quotaIsNotARateLimit(delivery: Delivery) async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        do {
            _ = try await open(client(server, fault: "quota"), "x", delivery)
            Issue.record("expected a 429 insufficient_quota")
        } catch let e as APIError {
            let f = RequestFailure.classify(e)
            #expect(e.status == 429)
            #expect(f.kind == "quota")
            #expect(!f.retryable)
            #expect(f.stopsProvider)
        }
    }

    @Test(arguments: deliveries)
    func stallEndsWithTheStallErrorWithinItsTimeout(delivery: Delivery) async throws {
        // Two chunks, then nothing with the connection open: only the stall timeout ends it, and
        // its message names the timeout given (not the 60 s default).
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await open(client(server, fault: "stall:2", stallTimeout: 2), "stall please", delivery)
        var reading = Reading()
        do {
            _ = try await read(stream, delivery, into: &reading)
            Issue.record("expected a stall")
        } catch let e as StreamError {
            #expect(e.underlying?.kind == .stalled)
            #expect(RequestFailure.classify(e).kind == "stalled")
            #expect(e.underlying?.message.contains("for 2 s") == true, "\(e)")
            #expect(!e.partialText.isEmpty)
        }
    }

    @Test(arguments: deliveries)
    func malformedChunkIsAMalformedEventError(delivery: Delivery) async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await open(client(server, fault: "malformed:2"), "x", delivery)
        var reading = Reading()
        let error = await #expect(throws: StreamError.self) { _ = try await read(stream, delivery, into: &reading) }
        // The two good content chunks came through, then the broken event ended the stream as such,
        // naming where in which event the JSON broke.
        let good = MockContent.tokens(model: Self.model, messages: [ChatMessage.user("x").json]).prefix(2)
        #expect(error?.kind == .malformedEvent)
        #expect(error?.partialText == good.joined())
        #expect(reading.text == good.joined())
        if delivery == .chunks {
            #expect(reading.chunks.compactMap(\.content).filter { !$0.isEmpty } == Array(good))
        }
        #expect(error?.message.contains(#"invalid JSON at byte 7"#) == true, "\(error.map { "\($0)" } ?? "no error")")
        #expect(error?.message.hasSuffix(#"in {"id": broken"#) == true, "\(error.map { "\($0)" } ?? "no error")")
    }

    /// The ways a caller leaves a stream before its end.
    enum Leaving: CaseIterable, Sendable {
        /// `break` out of the `for try await` loop (the stream is dropped with it).
        case breakingOutOfTheLoop
        /// Cancelling the task that iterates the chunks.
        case cancellingTheTask
        /// `stream.cancel()` while a task iterates the chunks.
        case cancellingAChunkStream
        /// `stream.cancel()` while a task waits in `collect()`.
        case cancellingACollectedStream
        /// Dropping a stream nobody read (the doc comment of `ChatCompletionStream` promises the
        /// request is cancelled).
        case droppingAChunkStreamUnread
        /// Dropping a `.collected` stream nobody read: the transport was feeding it, and held it.
        case droppingACollectedStreamUnread
        /// Dropping a `.collected` stream once chunks have come in.
        case droppingACollectedStreamMidway
        /// Dropping a stream `send` handed over, unread: only the stream held its transfer then.
        case droppingASentStreamUnread
    }

    @Test(arguments: Leaving.allCases)
    func leavingAStreamEarlyClosesTheConnection(by leaving: Leaving) async throws {
        // Four chunks, then silence with the connection open: the server is still streaming when the
        // client leaves, however late that is on a loaded machine (a slow stream could end first).
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let c = client(server, fault: "stall:4")
        let prompt = "a long answer please"
        switch leaving {
        case .breakingOutOfTheLoop:
            do {
                let stream = try await open(c, prompt, .chunks)
                var n = 0
                for try await _ in stream {
                    n += 1
                    if n == 3 { break }
                }
            }
        case .cancellingTheTask:
            let chunks = Atomic<Int>(0)
            let task = Task {
                for try await _ in try await open(c, prompt, .chunks) { chunks.add(1, ordering: .sequentiallyConsistent) }
            }
            // Cancelled once the stream is under way (not while the request is still queued).
            try await eventually("chunks arrive") { chunks.load(ordering: .sequentiallyConsistent) >= 2 }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
        case .cancellingAChunkStream, .cancellingACollectedStream:
            let delivery: Delivery = leaving == .cancellingAChunkStream ? .chunks : .collected
            let stream = try await open(c, prompt, delivery)
            let reader = Task {
                var reading = Reading()
                _ = try await read(stream, delivery, into: &reading)
            }
            try await eventually("chunks arrive while the task reads") { stream.chunkCount >= 2 }
            stream.cancel()
            await #expect(throws: CancellationError.self) { try await reader.value }
        case .droppingAChunkStreamUnread, .droppingACollectedStreamUnread:
            do {
                let stream = try await open(c, prompt, leaving == .droppingAChunkStreamUnread ? .chunks : .collected)
                #expect(stream.head?.status == 200)
            }
        case .droppingASentStreamUnread:
            do {
                let stream = try await open(c, prompt, .sent)
                #expect(stream.head?.status == 200)
            }
        case .droppingACollectedStreamMidway:
            do {
                let stream = try await open(c, prompt, .collected)
                try await eventually("chunks arrive") { stream.chunkCount >= 2 }
            }
        }
        // The transfer is cancelled: the server sees the client close, and nothing streams on.
        try await eventually("the server sees the client close") { server.stats().closedByClient == 1 }
        try await eventually("no stream is left active") { server.stats().streamsActive == 0 }
        #expect(server.stats().closedByClient == 1)
    }

    /// A request sent with no task waiting (`send`) is stopped with the client's requests while its
    /// head is still to come: its receiver gets `CancellationError`, once, and the connection closes.
    @Test func aSentRequestStoppedBeforeItsHeadEndsCancelled() async throws {
        try await withScriptedServer(answering: { _ in
            [.pause(seconds: 30), .send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("late"))]
        }) { server in
            let c = ChoreoClient(router: ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL))
            let body = ChatRequest.body(model: Self.model, messages: [.user("hold the head")])
            let ends = Atomic<Int>(0)
            let error = await #expect(throws: CancellationError.self) {
                _ = try await withCheckedThrowingContinuation { (head: CheckedContinuation<ChatCompletionStream, any Error>) in
                    c.send(body: body, provider: try! c.provider(for: Self.model)) { result in
                        ends.add(1, ordering: .sequentiallyConsistent)
                        head.resume(with: result)
                    }
                    Task {
                        try await eventually("the server has the request") { !server.requests.isEmpty }
                        c.stopRequests()
                    }
                }
            }
            #expect(error != nil)
            #expect(ends.load(ordering: .sequentiallyConsistent) == 1)
            // Requests go out again once resumed.
            c.resumeRequests()
        }
    }

    @Test func retryPolicyRunsUntilSuccess() async throws {
        let server = try await MockServer.start(config: MockConfig(faultRate: 1, faultKinds: [.serverError], maxFaultsPerRequest: 2))
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        let policy = RetryPolicy(maxAttempts: 4, baseDelay: 0.01, maxDelay: 0.05)
        let attempts = AttemptCounter()
        let completion = try await policy.run { _ in
            attempts.increment()
            return try await c.chat.completions.create(model: Self.model, messages: [.user("retry me")], stream: true).collect()
        }
        #expect(completion.text == expected("retry me").text)
        #expect(attempts.value == 3)
        // The hook hears each retried failure, with its kind and wait.
        let heard = AttemptCounter()
        _ = try await policy.run(onRetry: { attempt, failure, delay in
            #expect(failure.kind == "server_error" && delay <= 0.05)
            heard.increment()
        }) { _ in
            try await c.chat.completions.create(model: Self.model, messages: [.user("retry me too")], stream: true).collect()
        }
        #expect(heard.value == 2)
    }
}

final class AttemptCounter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
