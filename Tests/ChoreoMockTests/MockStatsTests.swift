import ChoreoAI
import ChoreoHTTP
import ChoreoLocking
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("Mock stats")
struct MockStatsTests {
    @Test func countsRequestsCompletionsAndFaults() async throws {
        try await withMockServer { server in
            _ = try await post(server, "/v1/chat/completions", Sample.openAI())
            _ = try await post(server, "/v1/chat/completions", Sample.openAI(stream: false))
            _ = try await post(server, "/v1/chat/completions", Sample.openAI(), headers: [("x-mock-fault", "429")])
            _ = try await post(server, "/v1/messages", Sample.anthropic(), headers: [("x-mock-fault", "drop:1")])
            try await eventually("no stream left active") { server.stats().streamsActive == 0 }
            let stats = server.stats()
            #expect(stats.requests == 4)
            #expect(stats.completed == 2)
            #expect(stats.faultsByKind == ["429": 1, "drop": 1])
            #expect(stats.closedByClient == 0, "a server-side drop is not the client's close")
            #expect(stats.streamsPeak >= 1)

            let json = try await get(server, "/mock/stats").json
            #expect(json?["requests"] == 4)
            #expect(json?["faultsByKind"]?["drop"] == 1)
            #expect(server.stats().requests == 4, "/mock/stats is not counted")
        }
    }

    /// The client leaves once it has read part of the body (an event, not a clock), and the reply
    /// is far longer than the test (1,000 chunks 100 ms apart), so the server cannot finish it
    /// first on however slow a machine.
    @Test func clientCancelMidStreamCountsAsClosedByClient() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(100), fixedTokens: 1000)) { server in
            let bytesRead = Locked(0)
            let task = Task {
                let request = HTTPRequest(url: server.baseURL + "/v1/chat/completions", method: "POST",
                                          headers: HeaderFields([("content-type", "application/json")]), body: Sample.openAI().jsonBytes)
                let response = try await CurlTransport.shared.execute(request)
                for try await bytes in response.body { bytesRead.withLock { $0 += bytes.count } }
            }
            try await eventually("the client to read the first chunks") { bytesRead.withLock { $0 } > 0 }
            task.cancel()
            _ = await task.result
            try await eventually("the server to see the client close (stats: \(server.stats()))") { server.stats().closedByClient == 1 }
            #expect(server.stats().streamsActive == 0)
            #expect(server.stats().completed == 0)
        }
    }
}
