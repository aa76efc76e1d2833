import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI
import ChoreoHTTP

@Suite("Backpressure and retry hints")
struct BackpressureAndRetryHintTests {
    /// A consumer that stops reading: the transfer pauses at the high-water mark instead of
    /// buffering the whole response, then resumes and the text arrives intact.
    @Test func aSlowConsumerPausesTheTransferInsteadOfBuffering() async throws {
        try await withMockServer(config: MockConfig(fixedTokens: 30_000)) { server in
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        let client = ChoreoClient(router: router)
        let stream = try await client.chat.completions.create(model: "gpt-4o-mini", messages: [.user("a very long answer")], stream: true)
        var iterator = stream.makeAsyncIterator()
        var text = try await iterator.next()?.content ?? ""
        // Stop reading: once the buffer reaches the high-water mark the transfer pauses, so what
        // curl has accepted stops growing, far short of the whole response.
        try await Task.sleep(nanoseconds: 700_000_000)
        let idle1 = stream.bytesReceived
        try await Task.sleep(nanoseconds: 700_000_000)
        let idle2 = stream.bytesReceived
        #expect(idle1 == idle2, "the transfer kept receiving while the consumer was idle: \(idle1) → \(idle2)")
        while let chunk = try await iterator.next() { text += chunk.content ?? "" }
        #expect(stream.bytesReceived > 2 * idle2, "the whole response (\(stream.bytesReceived) bytes) was buffered while idle")
        #expect(stream.completion.choices[0].finishReason == .stop)
        #expect(stream.completion.text.count == text.count)
    }
    }

    @Test func retryAfterHeadersInEveryForm() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(RetryHints.retryAfter(HeaderFields([("Retry-After-Ms", "250")]), now: now) == 0.25)
        #expect(RetryHints.retryAfter(HeaderFields([("retry-after", "3")]), now: now) == 3)
        #expect(RetryHints.retryAfter(HeaderFields([("retry-after", "1.5")]), now: now) == 1.5)
        let date = "Mon, 12 Jan 1970 13:47:00 GMT"  // 1,000,020 s after the epoch
        #expect(RetryHints.retryAfter(HeaderFields([("retry-after", date)]), now: now) == 20)
        #expect(RetryHints.retryAfter(HeaderFields([("retry-after", "soon")]), now: now) == nil)
    }

    @Test(arguments: [("1s", 1.0), ("17.965s", 17.965), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("250ms", 0.25), ("27s", 27.0)])
    func goDurations(text: String, seconds: Double) {
        #expect(abs((RetryHints.duration(text) ?? -1) - seconds) < 1e-9)
    }

    @Test func rateLimitHeadersOfOpenAIAndAnthropic() {
        let now = Date(timeIntervalSince1970: 1_772_049_757)  // 2026-02-25T20:02:37Z
        let openAI = RateLimitInfo(headers: HeaderFields([
            ("x-ratelimit-limit-requests", "5000"), ("x-ratelimit-remaining-requests", "4999"), ("x-ratelimit-reset-requests", "12ms"),
            ("x-ratelimit-limit-tokens", "160000"), ("x-ratelimit-remaining-tokens", "159976"), ("x-ratelimit-reset-tokens", "6m0s"),
        ]), now: now)
        #expect(openAI.remainingRequests == 4999 && openAI.resetRequests == 0.012 && openAI.resetTokens == 360)
        let anthropic = RateLimitInfo(headers: HeaderFields([
            ("anthropic-ratelimit-requests-limit", "50"), ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-02-25T20:02:47Z"),
        ]), now: now)
        #expect(anthropic.remainingRequests == 0 && anthropic.resetRequests == 10)
        #expect(RetryHints.resetSeconds("2026-02-25T20:02:39.500Z", now: now) == 2.5)
        #expect(RetryHints.resetSeconds("2026-02-25T20:02:30Z", now: now) == 0)  // already past
        #expect(RetryHints.resetSeconds("soon", now: now) == nil)
        // Azure's -1 / 0 limits mean "unknown".
        let azure = RateLimitInfo(headers: HeaderFields([("x-ratelimit-limit-tokens", "-1"), ("x-ratelimit-remaining-tokens", "0")]), now: now)
        #expect(azure.limitTokens == nil && azure.remainingTokens == nil)
    }

    @Test func a429WithoutRetryAfterWaitsForTheExhaustedBudgetsReset() {
        let provider = Provider(name: "openai", kind: .openAI, baseURL: "http://127.0.0.1:1/v1")
        let error = OpenAIWire().decodeError(status: 429, headers: HeaderFields([
            ("x-ratelimit-limit-requests", "100"), ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "7s"),
            ("x-ratelimit-limit-tokens", "1000"), ("x-ratelimit-remaining-tokens", "500"), ("x-ratelimit-reset-tokens", "30s"),
        ]), body: Array(#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.utf8), provider: provider)
        #expect(error.retryAfter == 7)
        let f = RequestFailure.classify(error)
        #expect(f.retryable && f.kind == "rate_limited")
        #expect(RetryPolicy.default.delay(after: 1, failure: f, random: 0) == 7)
    }

    @Test func retryableKindsAreExactlyWhatClassifyRetries() {
        let partial = ChatCompletion(id: "", created: 0, model: "", choices: [], usage: nil)
        var errors: [any Error] = [400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 529].map {
            APIError(status: $0, type: nil, code: nil, message: "m", retryAfter: nil, requestID: nil, provider: "p")
        }
        errors.append(APIError(status: 429, type: "insufficient_quota", code: nil, message: "m", retryAfter: nil, requestID: nil, provider: "p"))
        for kind in [TransportError.Kind.connect, .tls, .stalled, .timedOut, .connectionLost, .invalidRequest, .protocolError, .other] {
            errors.append(TransportError(kind: kind, message: "m"))
            errors.append(StreamError(kind: .interrupted, message: "m", partial: partial, underlying: TransportError(kind: kind, message: "m")))
        }
        errors += [StreamError(kind: .interrupted, message: "m", partial: partial), StreamError(kind: .malformedEvent, message: "m", partial: partial),
                   StreamError(kind: .protocolError, message: "m", partial: partial),
                   StreamError(kind: .providerError, message: "m", providerErrorType: "overloaded_error", partial: partial),
                   StreamError(kind: .providerError, message: "m", partial: partial),
                   CancellationError(), WireError.malformed("m"), WireError.invalidRequest("m")]
        var seen: Set<FailureKind> = []
        for e in errors {
            let f = RequestFailure.classify(e)
            #expect(f.retryable == FailureKind.retryable.contains(f.kind), "\(f.kind)")
            if f.retryable { seen.insert(f.kind) }
        }
        #expect(seen == Set(FailureKind.retryable), "every listed kind comes out of classify")
    }

    @Test func backoffIsExponentialWithFullJitterAndACap() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 0.5, maxDelay: 8)
        let f = RequestFailure(kind: "server_error", retryable: true, stopsProvider: false, message: "")
        #expect(policy.delay(after: 1, failure: f, random: 0.999)! < 0.5)
        #expect(policy.delay(after: 3, failure: f, random: 0.999)! > 1.9)
        #expect(policy.delay(after: 9, failure: f, random: 0.999)! <= 8)
        #expect(policy.delay(after: 10, failure: f, random: 0.5) == nil)
        let permanent = RequestFailure(kind: "bad_request", retryable: false, stopsProvider: false, message: "")
        #expect(policy.delay(after: 1, failure: permanent) == nil)
    }
}

@Suite("Keys never leave the process")
struct KeyRedactionTests {
    @Test func anErrorBodyEchoingTheKeyIsRedacted() {
        let provider = Provider(name: "gateway", kind: .openAI, baseURL: "https://gw.example/v1", apiKeyVariable: "GW_KEY",
                                apiKey: "sk-live-0123456789abcdef")
        let body = Array(#"{"error":{"message":"key sk-live-0123456789abcdef is not allowed","type":"invalid_request_error"}}"#.utf8)
        let error = OpenAIWire().decodeError(status: 401, headers: HeaderFields(), body: body, provider: provider)
        #expect(!error.description.contains("sk-live-0123456789abcdef"))
        #expect(error.message.contains("[redacted key]"))
        #expect(!provider.description.contains("sk-live"))
    }

    @Test func transportErrorsShowTheOriginOnly() {
        #expect(HTTPRequest.origin(of: "https://user:secret@api.example.com:8443/v1/x?key=abc") == "https://api.example.com:8443")
    }
}
