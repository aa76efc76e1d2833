import ChoreoMock
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

    /// The server sees a client's close a moment after it happens: waits up to 5 s for it.
    func closedByClient(_ server: MockServer) async throws -> Int {
        for _ in 0..<250 where server.stats().closedByClient == 0 { try await Task.sleep(nanoseconds: 20_000_000) }
        return server.stats().closedByClient
    }

    func expected(_ prompt: String, maxTokens: Int? = nil) -> (text: String, finishReason: String) {
        MockContent.reply(model: Self.model, messages: [ChatMessage.user(prompt).json], maxTokens: maxTokens)
    }

    @Test func streamsTheExactDeterministicText() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
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

    @Test func maxTokensEndsWithLength() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let completion = try await client(server).chat.completions.create(
            model: Self.model, messages: [.user("Explain Python")], stream: true, maxTokens: 5, includeUsage: true).collect()
        #expect(completion.text == expected("Explain Python", maxTokens: 5).text)
        #expect(completion.choices[0].finishReason == .length)
        #expect(completion.usage?.completionTokens == 5)
    }

    @Test func nonStreamingCreateReturnsTheWholeCompletion() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let completion = try await client(server).chat.completions.create(model: Self.model, messages: [.user("Say hi")])
        #expect(completion.text == expected("Say hi").text)
        #expect(completion.choices[0].finishReason == .stop)
    }

    @Test func twoHundredConcurrentStreamsCompleteExactly() async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(2)))
        defer { Task { try? await server.shutdown() } }
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

    @Test func dropSurfacesAsInterruptedWithThePartialText() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
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

    @Test func rateLimitSurfacesWithRetryAfterBeforeAnyBody() async throws {
        let server = try await MockServer.start(config: MockConfig(retryAfterMs: 1500))
        defer { Task { try? await server.shutdown() } }
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

    @Test func quotaIsNotARateLimit() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
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

    @Test func stallEndsWithTheStallErrorWithinItsTimeout() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
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

    @Test func malformedChunkIsAMalformedEventError() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let stream = try await client(server, fault: "malformed:2").chat.completions.create(
            model: Self.model, messages: [.user("x")], stream: true)
        var texts: [String] = []
        let error = await #expect(throws: StreamError.self) {
            for try await chunk in stream {
                if let text = chunk.choices.first?.delta.content, !text.isEmpty { texts.append(text) }
            }
        }
        // The two good content chunks came through, then the broken event ended the stream as such,
        // naming where in which event the JSON broke.
        #expect(error?.kind == .malformedEvent)
        #expect(texts == Array(MockContent.tokens(model: Self.model, messages: [ChatMessage.user("x").json]).prefix(2)))
        #expect(error?.partialText == texts.joined())
        #expect(error?.message.contains(#"invalid JSON at byte 7"#) == true, "\(error.map { "\($0)" } ?? "no error")")
        #expect(error?.message.hasSuffix(#"in {"id": broken"#) == true, "\(error.map { "\($0)" } ?? "no error")")
    }

    @Test func breakingOutOfTheLoopClosesTheConnection() async throws {
        // Slow enough that the server is still streaming when the client leaves, even on a loaded machine.
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(150)))
        defer { Task { try? await server.shutdown() } }
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

    @Test func cancellingTheTaskCancelsTheRequest() async throws {
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(150)))
        defer { Task { try? await server.shutdown() } }
        let c = client(server)
        let task = Task {
            let stream = try await c.chat.completions.create(model: Self.model, messages: [.user("long")], stream: true)
            for try await _ in stream {}
        }
        // Cancel once the stream is under way on the server (not while the request is still queued).
        for _ in 0..<250 where server.stats().streamsActive == 0 { try await Task.sleep(nanoseconds: 20_000_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        let closed = try await closedByClient(server)
        #expect(closed == 1)
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
