import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// The client against a real server on 127.0.0.1 (the mock provider), through libcurl.
@Suite("Streaming client against the mock provider")
struct StreamingClientTests {
    static let model = "gpt-4o-mini"

    /// A client whose providers all point at `server`; `fault` is sent as `x-mock-fault`.
    func client(_ server: MockServer, fault: String? = nil, stallTimeout: Double = 60) -> ChoreoAI {
        server.client(fault: fault, stallTimeout: stallTimeout)
    }

    /// The server sees a client's close a moment after it happens: waits for it.
    func closedByClient(_ server: MockServer) async throws -> Int {
        try await eventually("the server to see the client close") { server.stats().closedByClient > 0 }
        return server.stats().closedByClient
    }

    func expected(_ prompt: String, maxTokens: Int? = nil) -> (text: String, finishReason: String) {
        MockContent.reply(model: Self.model, messages: [ChatMessage.user(prompt).json], maxTokens: maxTokens)
    }

    @Test func streamsTheExactDeterministicText() async throws {
        try await withMockServer { server in
        let stream = try await client(server).chat.completions.create(
            model: Self.model, messages: [.user("Write a short story")], stream: true)
        var text = ""
        var roles: [Role] = []
        var finish: FinishReason?
        for try await chunk in stream {
            if let r = chunk.choices.first?.delta.role { roles.append(r) }
            text += chunk.choices.first?.delta.content ?? ""
            if let f = chunk.choices.first?.finishReason { finish = f }
        }
        #expect(text == expected("Write a short story").text)
        #expect(roles == [.assistant])
        #expect(finish == .stop)
        #expect(stream.head?.status == 200)
    }
    }

    @Test func maxTokensEndsWithLength() async throws {
        try await withMockServer { server in
        let completion = try await client(server).chat.completions.create(
            model: Self.model, messages: [.user("Explain Python")], stream: true, maxTokens: 5, includeUsage: true).collect()
        #expect(completion.text == expected("Explain Python", maxTokens: 5).text)
        #expect(completion.choices[0].finishReason == .length)
        #expect(completion.usage?.completionTokens == 5)
    }
    }

    @Test func nonStreamingCreateReturnsTheWholeCompletion() async throws {
        try await withMockServer { server in
        let completion = try await client(server).chat.completions.create(model: Self.model, messages: [.user("Say hi")])
        #expect(completion.text == expected("Say hi").text)
        #expect(completion.choices[0].finishReason == .stop)
    }
    }

    /// The raw-body `create(body:stream: false)` asks for no stream, as the typed one does: the
    /// server streams nothing and the answer arrives as one chunk.
    @Test func rawBodyCreateWithoutStreamDoesNotStream() async throws {
        let server = try await MockServer.start()
        let body: JSONValue = ["model": .string(Self.model), "messages": [ChatMessage.user("Say hi").json]]
        let stream = try await client(server).chat.completions.create(body: body, stream: false)
        var chunks: [ChatCompletionChunk] = []
        for try await chunk in stream { chunks.append(chunk) }
        #expect(chunks.count == 1)
        #expect(chunks.first?.content == expected("Say hi").text)
        #expect(server.stats().streamsPeak == 0, "the server streamed the reply")
        try await server.shutdown()
    }

    @Test func twoHundredConcurrentStreamsCompleteExactly() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(2))) { server in
        let c = client(server)
        let mismatches = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let prompt = "question \(i)"
                    let completion = try await c.chat.completions.create(
                        model: Self.model, messages: [.user(prompt)], stream: true).collect()
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
    }

    @Test func dropSurfacesAsInterruptedWithThePartialText() async throws {
        try await withMockServer { server in
        let stream = try await client(server, fault: "drop:3").chat.completions.create(
            model: Self.model, messages: [.user("Tell me about moons")], stream: true)
        var seen = ""
        do {
            for try await chunk in stream { seen += chunk.content ?? "" }
            Issue.record("the stream should have been interrupted")
        } catch let e as StreamError {
            #expect(e.kind == .interrupted)
            #expect(e.partialText == seen)
            #expect(!seen.isEmpty)
            #expect(expected("Tell me about moons").text.hasPrefix(seen))
            #expect(Failure.classify(e).retryable)
        }
    }
    }

    @Test func rateLimitSurfacesWithRetryAfterBeforeAnyBody() async throws {
        try await withMockServer(config: MockConfig(retryAfterMs: 1500)) { server in
        do {
            _ = try await client(server, fault: "429").chat.completions.create(model: Self.model, messages: [.user("x")], stream: true)
            Issue.record("expected a 429")
        } catch let e as APIError {
            #expect(e.status == 429)
            #expect(e.retryAfter == 1.5)
            #expect(Failure.classify(e).kind == "rate_limited")
            #expect(Failure.classify(e).retryable)
        }
    }
    }

    @Test func quotaIsNotARateLimit() async throws {
        try await withMockServer { server in
        do {
            _ = try await client(server, fault: "quota").chat.completions.create(model: Self.model, messages: [.user("x")], stream: true)
            Issue.record("expected a 429 insufficient_quota")
        } catch let e as APIError {
            let f = Failure.classify(e)
            #expect(e.status == 429)
            #expect(f.kind == "quota")
            #expect(!f.retryable)
            #expect(f.stopsProvider)
        }
    }
    }

    @Test func stallEndsWithTheStallErrorWithinItsTimeout() async throws {
        try await withMockServer { server in
        let started = Date()
        let stream = try await client(server, fault: "stall:2", stallTimeout: 1).chat.completions.create(
            model: Self.model, messages: [.user("stall please")], stream: true)
        do {
            for try await _ in stream {}
            Issue.record("expected a stall")
        } catch let e as StreamError {
            #expect(e.underlying?.kind == .stalled)
            #expect(Failure.classify(e).kind == "stalled")
            #expect(!e.partialText.isEmpty)
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }
    }

    @Test func malformedChunkIsAMalformedEventError() async throws {
        try await withMockServer { server in
        let stream = try await client(server, fault: "malformed:2").chat.completions.create(
            model: Self.model, messages: [.user("x")], stream: true)
        var texts: [String] = []
        let error = await #expect(throws: StreamError.self) {
            for try await chunk in stream {
                if let text = chunk.choices.first?.delta.content, !text.isEmpty { texts.append(text) }
            }
        }
        // The two good content chunks came through, then the broken event ended the stream as such.
        #expect(error?.kind == .malformedEvent)
        #expect(texts.count == 2)
        #expect(error?.partialText == texts.joined())
        #expect(expected("x").text.hasPrefix(texts.joined()))
    }
    }

    @Test func breakingOutOfTheLoopClosesTheConnection() async throws {
        // Slow enough that the server is still streaming when the client leaves, even on a loaded machine.
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(150))) { server in
        do {
            let stream = try await client(server).chat.completions.create(
                model: Self.model, messages: [.user("a long answer please")], stream: true)
            var n = 0
            for try await _ in stream {
                n += 1
                if n == 3 { break }
            }
        }
        // Dropping the stream cancels the transfer; the server sees the client close.
        let closed = try await closedByClient(server)
        #expect(closed == 1)
        #expect(server.stats().streamsActive == 0)
    }
    }

    @Test func cancellingTheTaskCancelsTheRequest() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(150))) { server in
        let c = client(server)
        let task = Task {
            let stream = try await c.chat.completions.create(model: Self.model, messages: [.user("long")], stream: true)
            for try await _ in stream {}
        }
        // Cancel once the stream is under way on the server (not while the request is still queued).
            try await eventually("the stream to start on the server") { server.stats().streamsActive > 0 }
        try await Task.sleep(nanoseconds: 100_000_000)
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        let closed = try await closedByClient(server)
        #expect(closed == 1)
    }
    }

    @Test func retryPolicyRunsUntilSuccess() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.serverError], maxFaultsPerRequest: 2)) { server in
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
}

final class AttemptCounter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
