import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// A run needs an open file per stream (two with the built-in mock) and some more. Under a limit
/// below that, connections and the database's own files failed to open: jobs taken for an outage,
/// ends not written ("unable to open database file"), the run exiting 3 with half its jobs left.
@Suite struct OpenFilesLimitTests {
    @Test func aConcurrencyAboveTheOpenFilesLimitRunsFewerStreamsAndSaysSo() async throws {
        let scratch = TemporaryDirectory("choreo-fds")
        let lines = (0..<400).map { #"{"custom_id":"j\#($0)","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi \#($0)"}],"max_tokens":8}"# }
        let file = scratch.write("jobs.jsonl", lines: lines)
        let db = scratch.file("fds.sqlite")
        let submit = try await ChoreoBinary.run(["submit", file, "--db", db])
        #expect(submit.status == 0, "\(submit.output)")
        let run = try await ChoreoBinary.run(["run", "--db", db, "--mock", "--mock-chunk-delay-ms", "5", "--concurrency", "300"],
                                             openFilesLimit: 200)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("--concurrency 300 needs more open files than this process may have (200: ulimit -Hn)"), "\(run.stderr)")
        #expect(run.stderr.contains("400 succeeded, 0 failed"), "\(run.stderr)")
        let errors = try await ChoreoBinary.run(["sql", "--db", db, "--json", "SELECT count(*) AS n FROM attempts WHERE error_kind IS NOT NULL"])
        #expect(errors.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"n":0}"#, "\(errors.output)")
    }

    /// Idle connections hold files too. When one provider's jobs were done, curl kept their
    /// connections open (its cache is sized by the most streams ever in flight) while the next
    /// provider's streams opened theirs: past the limit those could not connect, the second
    /// provider was taken for down, and jobs were left. Connections open at once, busy and idle,
    /// now stay under the limit: curl closes an idle one to open another.
    @Test func idleConnectionsToOneProviderDoNotStarveTheNext() async throws {
        // Every stream of a wave ends at about the same time (the same pacing and length), so a
        // whole wave of connections to the first provider is idle when the second's open.
        var pacing = MockConfig(chunkDelay: .milliseconds(20))
        pacing.fixedTokens = 10
        try await withMockServer(config: pacing) { first in
        try await withMockServer(config: pacing) { second in
            let scratch = TemporaryDirectory("choreo-fds")
            let lines = ["m-a", "m-b"].flatMap { model in
                (0..<400).map { #"{"custom_id":"\#(model)-\#($0)","model":"\#(model)","messages":[{"role":"user","content":"Hi \#($0)"}],"max_tokens":8}"# }
            }
            let file = scratch.write("jobs.jsonl", lines: lines)
            let config = scratch.write("choreo.json", lines: [#"""
                {"providers": [
                  {"name": "a", "kind": "openai", "base_url": "\#(first.baseURL)/v1", "models": ["m-a"]},
                  {"name": "b", "kind": "openai", "base_url": "\#(second.baseURL)/v1", "models": ["m-b"]}]}
                """#])
            let db = scratch.file("fds.sqlite")
            #expect(try await ChoreoBinary.run(["submit", file, "--db", db, "--config", config]).status == 0)
            let run = try await ChoreoBinary.run(["run", "--db", db, "--config", config, "--concurrency", "500"],
                                                 environment: ["OPENAI_API_KEY": "x"], openFilesLimit: 300)
            #expect(run.status == 0, "\(run.output)")
            #expect(run.stderr.contains("800 succeeded, 0 failed"), "\(run.stderr)")
            #expect(!run.stderr.contains("unreachable"), "\(run.stderr)")
            let errors = try await ChoreoBinary.run(["sql", "--db", db, "--json", "SELECT count(*) AS n FROM attempts WHERE error_kind IS NOT NULL"])
            #expect(errors.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"n":0}"#, "\(errors.output)")
        }
        }
    }

    /// Over HTTPS curl asks for HTTP/2, and the streams to one origin share its connections: the
    /// open files bound the connections, not the streams. A run capped its streams at one file
    /// each all the same, so 50,000 streams to a provider speaking HTTP/2 ran 20,000 at a time
    /// under this machine's limit. Each answer here takes seconds (nginx sends 100 bytes a
    /// second), so the attempts' times show how many streams were open at once.
    @Test(.enabled(if: TLSServer.unavailable == nil, "\(TLSServer.unavailable ?? "")"))
    func overHTTP2MoreStreamsThanOpenFilesShareTheConnections() async throws {
        try await withTLSServer(http2: true, responseBody: PrivateCATests.stream, bytesPerSecond: 100) { server in
            let fixture = try Fixture(count: 300)
            let run = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--cacert", server.caFile, "--concurrency", "300"],
                                                 environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"], openFilesLimit: 200)
            #expect(run.status == 0, "\(run.output)")
            #expect(run.stderr.contains("300 succeeded, 0 failed"), "\(run.stderr)")
            #expect(!run.stderr.contains("needs more open files"), "\(run.stderr)")
            #expect(run.stderr.contains("each carrying many streams over HTTP/2"), "\(run.stderr)")
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind IS NOT NULL") == 0)
            // The most attempts under way at once: past the 200 files, one a stream could not be.
            let most = try fixture.scalar("""
                SELECT max((SELECT count(*) FROM attempts b WHERE b.started_at <= a.started_at AND b.ended_at > a.started_at))
                FROM attempts a
                """)
            #expect(most > 200, "at most \(most) streams at once")
            try await eventually("nginx to log 300 requests") { server.requests.count == 300 }
            #expect(server.requests.allSatisfy { $0.protocol == "HTTP/2.0" })
            #expect(server.connectionsUsed < 200, "\(server.connectionsUsed) connections")
        }
    }
}

