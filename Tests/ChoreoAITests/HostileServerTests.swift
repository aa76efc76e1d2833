import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// Servers that answer with absurd headers, broken HTTP, endless events or a drip: each attempt
/// ends with a bounded, classified error, never a crash, a hang or unbounded memory. Every test
/// talks to a real `ScriptedServer` on 127.0.0.1 through libcurl.
@Suite("Hostile servers")
struct HostileServerTests {
    static let key = "sk-hostile-0123456789abcdef"

    /// A client whose providers all point at `server`, with a key (a local server needs none; the
    /// redaction tests need one to leak).
    func client(_ server: ScriptedServer, configure: (inout Provider) -> Void = { _ in }) -> ChoreoClient {
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices {
            router.providers[i].apiKey = Self.key
            configure(&router.providers[i])
        }
        return ChoreoClient(router: router)
    }

    func body(_ model: String = "gpt-4o-mini") -> JSONValue {
        ["model": .string(model), "messages": [["role": "user", "content": "hi"]]]
    }

    /// What one streamed attempt against `server` ends with: the error it throws, or nil.
    func attempt(_ server: ScriptedServer, model: String = "gpt-4o-mini", configure: (inout Provider) -> Void = { _ in }) async -> (any Error)? {
        let client = client(server, configure: configure)
        do {
            let stream = try await client.stream(body: body(model), provider: try client.provider(for: model), delivery: .collected)
            _ = try await stream.collect()
            return nil
        } catch {
            return error
        }
    }

    // MARK: durations from headers

    /// Header sets of 429s that crashed the runner (a Double too large for an Int or a
    /// Duration) or paused a provider for decades.
    static let absurdRetryHeaders: [[String]] = [
        ["Retry-After: 1e308"], ["Retry-After: inf"], ["Retry-After: 99999999999999999999999"], ["Retry-After: 999999999"],
        ["Retry-After: Thu, 01 Jan 2099 00:00:00 GMT"], ["retry-after-ms: 1e400"], ["retry-after-ms: 1e22"],
        ["retry-after-ms: 999999999999"], ["Retry-After: nan"],
        ["x-ratelimit-limit-requests: 100", "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 99999999999999999999s"],
        ["x-ratelimit-limit-requests: 100", "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 999999h"],
    ]

    @Test(arguments: absurdRetryHeaders)
    func anAbsurdRetryHeaderIsClampedToTheMaximumWait(headers: [String]) async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.errorReply(status: "429 Too Many Requests", headers: headers,
                                             json: #"{"error":{"message":"slow down","type":"rate_limit_error"}}"#))]
        }) { server in
        let error = try #require(await attempt(server) as? APIError)
        #expect(error.status == 429)
        #expect(!error.description.isEmpty)  // formatting the wait crashed on 1e308
        if let wait = error.retryAfter {
            #expect(wait.isFinite && wait >= 0 && wait <= RetryHints.maxWait, "\(headers): \(wait)")
        }
        let failure = RequestFailure.classify(error)
        #expect(failure.kind == "rate_limited")
        let delay = try #require(RetryPolicy(maxServerDelay: RetryHints.maxWait).delay(after: 1, failure: failure, random: 0.5))
        #expect(delay <= RetryHints.maxWait * 1.1)
    }
    }

    @Test func aGeminiRetryDelayIsClamped() async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.errorReply(status: "429 Too Many Requests", json: """
                {"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
                 {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"99999999999999999999999s"}]}}
                """))]
        }) { server in
        let error = try #require(await attempt(server, model: "gemini-2.0-flash") as? APIError)
        #expect(!error.description.isEmpty)
        #expect(error.retryAfter == RetryHints.maxWait)
    }
    }

    @Test func serverDurationsAreParsedDefensively() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        func retryAfter(_ name: String, _ value: String) -> Double? { RetryHints.retryAfter(HeaderFields([(name, value)]), now: now) }
        #expect(retryAfter("retry-after", "inf") == RetryHints.maxWait)
        #expect(retryAfter("retry-after", "1e308") == RetryHints.maxWait)
        #expect(retryAfter("retry-after-ms", "1e400") == RetryHints.maxWait)
        #expect(retryAfter("retry-after", "nan") == nil)
        #expect(retryAfter("retry-after", "-5") == nil)
        #expect(retryAfter("retry-after-ms", "-5") == nil)
        #expect(retryAfter("retry-after", "7") == 7)
        #expect(retryAfter("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT") == RetryHints.maxWait)
        // Found by the headers fuzzer: a date with bytes that are not UTF-8 (decoded with replacement
        // characters) made Foundation's DateFormatter trap ("Incorrect range CFRange"), killing the runner.
        let mangled = String(decoding: [0x57, 0x65, 0x64, 0x2c, 0x20, 0x32, 0x31, 0xdf, 0xb0, 0x9c, 0x8b, 0x73, 0x3a, 0x20, 0x20,
                                        0x32, 0x30, 0x32, 0x33, 0x20, 0x30, 0x37, 0x3a, 0x32, 0x38, 0x3a, 0x30, 0x30, 0x20, 0x47,
                                        0x4d, 0x54, 0x1f] as [UInt8], as: UTF8.self)
        #expect(retryAfter("retry-after", mangled) == nil)
        #expect(retryAfter("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT\u{1F}") == nil)
        #expect(RetryHints.resetSeconds("999999h", now: now) == RetryHints.maxWait)
        #expect(RetryHints.resetSeconds("2099-01-01T00:00:00Z", now: now) == RetryHints.maxWait)
        #expect(RetryHints.resetSeconds("6m0s", now: now) == 360)
        // A user's own durations (--deadline 48h) are not server durations: not clamped.
        #expect(RetryHints.duration("48h") == 172_800)
        #expect((1e308).formatted2 == "1e+308" && Double.infinity.formatted2 == "inf" && (2.5).formatted2 == "2.5")
    }

    // MARK: streams that never end an event, drip, or send endless headers

    @Test func anEventWithoutBlankLinesFailsAtTheCapWithBoundedMemory() async throws {
        let line = Array(("data: " + String(repeating: "x", count: 1000) + "\n").utf8)
        // 20 MB of one event, unless the client stops reading first.
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()), .repeating([.send(line)], times: 20_000)]
        }) { server in
        let client = client(server) { $0.maxEventBytes = 256 << 10 }
        let stream = try await client.stream(body: body(), provider: try client.provider(for: "gpt-4o-mini"), delivery: .collected)
        let error = await #expect(throws: StreamError.self) { try await stream.collect() }
        #expect(error?.kind == .protocolError, "\(String(describing: error))")
        #expect(error?.message.contains("262144 bytes") == true, "\(String(describing: error?.message))")
        #expect(RequestFailure.classify(try #require(error)).kind == "protocol_error")
        #expect(RequestFailure.classify(try #require(error)).retryable)
        #expect(stream.bytesReceived < 4 << 20, "read \(stream.bytesReceived) bytes of one event")
    }
    }

    /// The whole answer and its terminal event, then nothing: the response is never ended (a
    /// server that keeps it open, or a close that never reaches us). The answer is complete and
    /// paid for: the stream ends with it, not as stalled (which the runner would ask again), and
    /// a moment after the terminal event (`CurlTransfer.endGrace`), not after the stall timeout.
    @Test(arguments: [StreamDelivery.collected, .chunks])
    func aWholeAnswerWhoseResponseNeverEndsIsComplete(delivery: StreamDelivery) async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()), .send(ScriptedServer.openAIStream("the whole answer")), .pause(seconds: 600)]
        }) { server in
            let client = client(server) { $0.stallTimeout = 60 }
            let started = ContinuousClock.now
            let stream = try await client.stream(body: body(), provider: try client.provider(for: "gpt-4o-mini"), delivery: delivery)
            var text = ""
            if delivery == .collected {
                text = try await stream.collect().choices.first?.message.content ?? ""
            } else {
                for try await chunk in stream { text += chunk.choices.first?.delta.content ?? "" }
            }
            #expect(text == "the whole answer")
            #expect(stream.completion.choices.first?.finishReason == .stop)
            // Far from both: the grace is 1 s, the stall timeout 60.
            #expect(ContinuousClock.now - started < .seconds(30), "the stream waited out its stall timeout")
        }
    }

    @Test func aByteADripIsCaughtByTheStallRule() async throws {
        // Valid chunks, one byte every 50 ms, for over an hour: bytes keep coming, a line never
        // completes in time. Without the line rule the attempt would last as long as the drip.
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()),
             .repeating([.drip(Array(ScriptedServer.openAIStream("drip").utf8), interval: 0.05)], times: 1_000)]
        }) { server in
        let started = Date()
        let error = await attempt(server) { $0.stallTimeout = 1 }
        let elapsed = Date().timeIntervalSince(started)
            let failure = RequestFailure.classify(try #require(error))
            #expect(failure.kind == "stalled", "\(String(describing: error))")
            #expect("\(String(describing: error))".contains("for 1 s"), "\(String(describing: error))")
        #expect(elapsed < 60, "the drip held the attempt \(elapsed) s")
    }
    }

    @Test func aHeaderBlockOverTheCapIsAProtocolError() async throws {
        let header = Array(("X-Filler: " + String(repeating: "h", count: 1000) + "\r\n").utf8)
        try await withScriptedServer(answering: { _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"), .repeating([.send(header)], times: 2000),
             .send("\r\n" + ScriptedServer.openAIStream("late"))]
        }) { server in
        let error = try #require(await attempt(server))
        let failure = RequestFailure.classify(error)
        #expect(failure.kind == "protocol_error", "\(error)")
        #expect(failure.message.contains("header"), "\(failure.message)")
        #expect(failure.retryable && !failure.stopsProvider)
    }
    }

    /// Replies curl refuses as HTTP: a transient protocol error of the attempt, retried, never a
    /// reason to stop the provider.
    @Test(arguments: ["HTTP/9.9 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n", "hello from HTTP/0.9\n"])
    func aGarbledReplyIsARetryableProtocolError(reply: String) async throws {
        try await withScriptedServer(answering: { _ in [.send(reply)] }) { server in
        let error = try #require(await attempt(server))
        let failure = RequestFailure.classify(error)
        #expect(failure.kind == "protocol_error", "\(error)")
        #expect(failure.retryable && !failure.stopsProvider)
    }
    }

    /// A terminal event with no chunk before it answers nothing: the attempt is interrupted and
    /// retried, where it was a success with no text, no finish reason and no choice.
    @Test(arguments: [("gpt-4o-mini", "data: [DONE]\n\n"),
                      ("claude-sonnet-4-5", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")])
    func aTerminalEventBeforeAnyChunkIsNoAnswer(model: String, events: String) async throws {
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.eventStreamHead() + events)] }) { server in
            let error = try #require(await attempt(server, model: model) as? StreamError)
            #expect(error.kind == .interrupted)
            #expect(error.message == "the stream ended before any chunk of an answer")
            #expect(RequestFailure.classify(error).retryable)
        }
    }

    /// An empty answer is still an answer: its chunks say so.
    @Test func anEmptyAnswerWithItsFinishReasonIsComplete() async throws {
        let chunk = #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.eventStreamHead() + chunk + "\n\ndata: [DONE]\n\n")] }) { server in
            #expect(await attempt(server) == nil)
        }
    }

    // MARK: secrets

    @Test func anInBandErrorEchoingTheKeyIsRedacted() async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()),
             .send(#"data: {"error":{"message":"gateway refused key \#(Self.key) for this route","type":"\#(Self.key)"}}"# + "\n\n")]
        }) { server in
        let error = try #require(await attempt(server) as? StreamError)
        #expect(error.kind == .providerError)
        #expect(!"\(error) \(error.providerErrorType ?? "")".contains(Self.key))
        #expect(error.message.contains("[redacted key]"))
        #expect(!RequestFailure.classify(error).message.contains(Self.key))
    }
    }

    @Test func aWholeCompletionsErrorEchoingTheKeyIsRedacted() async throws {
        let json = #"{"error":{"message":"gateway refused key \#(Self.key)","type":"invalid_request_error"}}"#
        try await withScriptedServer(answering: { _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n" + json)]
        }) { server in
        do {
            _ = try await client(server).chat.completions.create(model: "gpt-4o-mini", messages: [.user("hi")])
            Issue.record("expected the in-band error")
        } catch {
            #expect(!"\(error)".contains(Self.key), "\(error)")
            #expect("\(error)".contains("[redacted key]"))
        }
    }
    }

    @Test func aMalformedEventEchoingTheKeyIsRedactedEvenWhenCut() async throws {
        // The error quotes the first 120 bytes of the event: the key is cut in the middle.
        let padding = String(repeating: "p", count: 100)
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()), .send("data: {\(padding) \(Self.key)\n\n")]
        }) { server in
        let error = try #require(await attempt(server) as? StreamError)
        #expect(error.kind == .malformedEvent)
        #expect(!error.message.contains(Self.key.prefix(12)), "\(error.message)")
    }
    }

    /// Redirects are not followed, so a key never goes to the host a `Location` names (curl would
    /// send custom key headers such as `x-api-key` along).
    @Test(arguments: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.0-flash"])
    func aRedirectNeverCarriesTheKeyToAnotherHost(model: String) async throws {
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("stolen"))] }) { elsewhere in
        let location = "http://localhost:\(elsewhere.port)/v1/chat/completions"
            try await withScriptedServer(answering: { _ in
            [.send("HTTP/1.1 307 Temporary Redirect\r\nLocation: \(location)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")]
            }) { server in
        let error = try #require(await attempt(server, model: model) as? APIError)
        #expect(error.status == 307)
        #expect(elsewhere.requests.isEmpty)
        // The key did reach the server it was meant for (so the test would see it leak).
        let sent = try #require(server.requests.first)
        #expect(sent.headers.contains { $0.value.contains(Self.key) })
    }
        }
    }
}
