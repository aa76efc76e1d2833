import ChoreoAI
import ChoreoHTTP
import ChoreoMock
import ChoreoTesting
import ChoreoLocking
import Testing

@Suite("Mock faults")
struct MockFaultTests {
    static let expected = MockContent.tokens(model: Sample.model, messages: Sample.messages)

    @Test func dropAfterKChunksClosesWithoutTerminator() async throws {
        try await withMockServer { server in
            for path in ["/v1/chat/completions", "/v1/messages", Sample.geminiPath] {
                let body = path.contains("messages") ? Sample.anthropic() : path.contains("v1beta") ? Sample.gemini() : Sample.openAI()
                let r = try await post(server, path, body, headers: [("x-mock-fault", "drop:3")])
                #expect(r.status == 200)
                #expect(r.transportErrorKind == .connectionLost, "\(path): \(String(describing: r.error))")
                switch path {
                case "/v1/chat/completions":
                    #expect(r.openAIText == Self.expected.prefix(3).joined())
                    #expect(!r.events.contains { $0.text == "[DONE]" })
                case "/v1/messages":
                    #expect(r.anthropicText == Self.expected.prefix(3).joined())
                    #expect(!r.events.contains { $0.type == "message_stop" })
                default:
                    #expect(r.eventJSON.count == 3)
                    #expect(!r.eventJSON.contains { $0["candidates"]?.at(0)?["finishReason"] != nil })
                }
            }
            #expect(server.stats().faultsByKind["drop"] == 3)
        }
    }

    @Test func dropPastTheEndStillWithholdsTheFinish() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "drop:1000")])
            #expect(r.openAIText == Self.expected.joined())
            #expect(r.transportErrorKind == .connectionLost)
            #expect(!r.eventJSON.contains { $0["choices"]?.at(0)?["finish_reason"]?.stringValue != nil })
        }
    }

    @Test func rateLimit429CarriesRetryHeadersInEveryDialect() async throws {
        try await withMockServer(config: MockConfig(retryAfterMs: 1500)) { server in
            let openAI = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "429")])
            #expect(openAI.status == 429)
            #expect(openAI.header("retry-after-ms") == "1500")
            #expect(openAI.header("retry-after") == "2")
            #expect(openAI.header("x-ratelimit-remaining-requests") == "0")
            #expect(openAI.json?["error"]?["code"] == "rate_limit_exceeded")
            #expect(openAI.json?["error"]?["type"] == "rate_limit_error")

            let anthropic = try await post(server, "/v1/messages", Sample.anthropic(), headers: [("x-mock-fault", "429")])
            #expect(anthropic.status == 429)
            #expect(anthropic.json?["error"]?["type"] == "rate_limit_error")
            #expect(anthropic.header("retry-after") == "2")

            let gemini = try await post(server, Sample.geminiPath, Sample.gemini(), headers: [("x-mock-fault", "429")])
            #expect(gemini.status == 429)
            #expect(gemini.json?["error"]?["status"] == "RESOURCE_EXHAUSTED")
        }
    }

    @Test func quotaIsA429ThatSaysDoNotRetry() async throws {
        try await withMockServer { server in
            let openAI = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "quota")])
            #expect(openAI.status == 429)
            #expect(openAI.json?["error"]?["code"] == "insufficient_quota")
            #expect(openAI.json?["error"]?["type"] == "insufficient_quota")
            let anthropic = try await post(server, "/v1/messages", Sample.anthropic(), headers: [("x-mock-fault", "quota")])
            #expect(anthropic.status == 429)
            #expect(anthropic.json?["error"]?["details"]?["error_code"] == "enforced_spend_limit_reached")
        }
    }

    @Test func serverErrors500503AndAnthropic529() async throws {
        try await withMockServer { server in
            let e500 = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "500")])
            #expect(e500.status == 500)
            #expect(e500.json?["error"]?["type"] == "server_error")
            let e503 = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "503")])
            #expect(e503.status == 503)
            let e529 = try await post(server, "/v1/messages", Sample.anthropic(), headers: [("x-mock-fault", "overloaded")])
            #expect(e529.status == 529)
            #expect(e529.json?["error"]?["type"] == "overloaded_error")
            let g503 = try await post(server, Sample.geminiPath, Sample.gemini(), headers: [("x-mock-fault", "503")])
            #expect(g503.json?["error"]?["status"] == "UNAVAILABLE")
        }
    }

    @Test func stallSendsKChunksThenGoesSilent() async throws {
        try await withMockServer { server in
            let seen = Locked<[SSEEvent]>([])
            let reader = Task {
                let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", method: "POST",
                                          headers: HeaderFields([("content-type", "application/json"), ("x-mock-fault", "stall:2")]),
                                          body: Sample.openAI().jsonBytes)
                let response = try await CurlTransport.shared.execute(request)
                var parser = SSEParser()
                for try await bytes in response.body {
                    let events = try parser.feed(bytes)
                    seen.withLock { $0 += events }
                }
            }
            // role chunk + 2 content chunks, then silence with the connection open.
            try await eventually("the role chunk and 2 content chunks") { seen.withLock { $0.count } == 3 }
            try await Task.sleep(for: .milliseconds(500))
            let events = seen.withLock { $0 }
            #expect(events.count == 3)
            let text = events.compactMap { try? JSONValue.parse($0.data) }
                .compactMap { $0["choices"]?.at(0)?["delta"]?["content"]?.stringValue }.joined()
            #expect(text == Self.expected.prefix(2).joined())
            #expect(server.stats().streamsActive == 1)
            reader.cancel()
            _ = await reader.result
            try await eventually("the server to see the client close") { server.stats().closedByClient == 1 && server.stats().streamsActive == 0 }
        }
    }

    @Test func malformedSendsBrokenJSONThenCloses() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "malformed:1")])
            #expect(r.openAIText == Self.expected.prefix(1).joined())
            #expect(r.events.last?.text == "{\"id\": broken")
            #expect(r.transportErrorKind == .connectionLost)
        }
    }

    @Test func bodyFaultAppliesToTheFirstNAttemptsOnly() async throws {
        try await withMockServer { server in
            let body = Sample.openAI(extra: ["mock": ["fault": "drop", "after": 2, "times": 1]])
            let first = try await post(server, "/v1/chat/completions", body)
            #expect(first.transportErrorKind == .connectionLost)
            #expect(first.header("x-mock-attempt") == "1")
            let second = try await post(server, "/v1/chat/completions", body)
            #expect(second.error == nil)
            #expect(second.header("x-mock-attempt") == "2")
            #expect(second.openAIText == Self.expected.joined())
        }
    }

    @Test func randomFaultsAreReproducibleAndBoundedPerRequest() async throws {
        let config = MockConfig(faultRate: 0.5, faultKinds: [.drop, .rateLimit, .serverError, .malformed], maxFaultsPerRequest: 2, seed: 7)
        func run() async throws -> [String] {
            try await withMockServer(config: config) { server in
                var outcomes: [String] = []
                for n in 0..<20 {
                    for attempt in 1...3 {
                        let r = try await post(server, "/v1/chat/completions", Sample.openAI(Sample.messages(n)))
                        outcomes.append("\(n).\(attempt):\(r.status):\(r.header("x-mock-fault") ?? "-"):\(r.events.count)")
                        if attempt == 3 {
                            #expect(r.status == 200 && r.error == nil, "the third attempt is past maxFaultsPerRequest")
                        }
                    }
                }
                #expect(server.stats().faults > 5)
                return outcomes
            }
        }
        #expect(try await run() == run())
    }
}
