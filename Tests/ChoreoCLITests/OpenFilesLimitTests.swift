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
}

