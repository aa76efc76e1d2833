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
}
