import ChoreoAI
import ChoreoTesting
import ChoreoBatch
import Foundation
import Testing
import ChoreoSQLite

/// The smaller things a new user trips on in the first hour (issue 19), each as they met it.
@Suite struct FirstHourTests {
    @Test func resumeTakesABatchName() async throws {
        let fixture = try Fixture(count: 2)
        let db = try Database(path: fixture.databasePath)
        try db.run("UPDATE batches SET name = 'nightly' WHERE id = ?", [.text(fixture.batchID)])
        let named = try await ChoreoBinary.run(["resume", "nightly", "--no-run", "--db", fixture.databasePath])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stderr.contains("requeued 0 jobs of \(fixture.batchID)"), "\(named.stderr)")
        let unknown = try await ChoreoBinary.run(["resume", "nosuch", "--no-run", "--db", fixture.databasePath])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no batch \"nosuch\"") && !unknown.stderr.contains("Usage:"), "\(unknown.stderr)")
    }

    @Test func anEmptyFileIsSaidToBeEmpty() async throws {
        let scratch = TemporaryDirectory("choreo-empty")
        let directory = scratch.url
        let file = directory.appendingPathComponent("jobs.jsonl").path
        for content in ["", "\n\n  \n"] {
            try content.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try await ChoreoBinary.run(["submit", file, "--db", directory.appendingPathComponent("t.sqlite").path])
            #expect(r.status == 1)
            #expect(r.stderr.contains("the file has no job lines"), "\(r.stderr)")
            #expect(!r.stderr.contains("line 0") && !r.stderr.contains("invalid line") && !r.stderr.contains("--skip-invalid"), "\(r.stderr)")
        }
        // Every line invalid, and --skip-invalid given: the advice does not repeat the flag.
        try "{\"custom_id\": 1}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try await ChoreoBinary.run(["submit", file, "--skip-invalid", "--db", directory.appendingPathComponent("t.sqlite").path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("line 1") && !r.stderr.contains("--skip-invalid"), "\(r.stderr)")
    }

    /// It used to answer "disk I/O error" on a healthy database.
    @Test func aSettingPragmaIsRefusedAsReadOnlyNotAsADiskError() async throws {
        let fixture = try Fixture(count: 1)
        let r = try await ChoreoBinary.run(["sql", "--db", fixture.databasePath, "PRAGMA journal_mode=DELETE"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("read-only") && !r.stderr.contains("disk I/O"), "\(r.stderr)")
        #expect(try fixture.scalar("PRAGMA journal_mode", text: true) == "wal")
    }

    @Test func showFinishReasonPrintsItOnce() async throws {
        let r = try await ChoreoBinary.run(["ask", "--mock", "--mock-chunk-delay-ms", "0", "--show-finish-reason", "hi"])
        #expect(r.status == 0)
        #expect((r.stdout + r.stderr).components(separatedBy: "finish_reason").count - 1 == 1, "out: \(r.stdout) err: \(r.stderr)")
        #expect(r.stdout.hasSuffix("[finish_reason: stop]\n"))
    }

    /// ArgumentParser wraps a too-long example line at the terminal's width, cutting the command.
    @Test func helpExamplesFitIn80Columns() async throws {
        for command in ["submit", "run", "resume", "status", "results", "show", "sql", "cancel", "ask", "chat", "mock"] {
            let r = try await ChoreoBinary.run(["help", command], environment: ["COLUMNS": "80"])
            #expect(r.status == 0)
            let lines = ProgressDisplayTests.lines(r.stdout)
            guard let start = lines.firstIndex(where: { $0.hasSuffix("Examples:") }) else { continue }
            for line in lines[(start + 1)...].prefix(while: { !$0.isEmpty }) {
                #expect(line.hasPrefix("  ") , "\(command): an example broke at 80 columns: \"\(line)\"")
            }
        }
    }

    @Test func anInterruptedBatchSaysSoAndItsClockStops() async throws {
        let fixture = try Fixture(count: 20, maxTokens: 5)
        // One short stream at a time, more of them than fit before the deadline: work is left.
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--quiet", "--mock", "--mock-chunk-delay-ms", "60",
                                        "--concurrency", "1", "--deadline", "1s"], directory: fixture.directory)
        #expect(try await ChoreoBinary.wait(p) == 3)
        let db = try Database(path: fixture.databasePath, readOnly: true)
        let now = Date().timeIntervalSince1970
        let status = try BatchStatus.load(db, batch: fixture.batchID, now: now)
        let later = try BatchStatus.load(db, batch: fixture.batchID, now: now + 3600)
        #expect(status.count("pending") > 0 && status.count("succeeded") > 0)
        #expect(status.elapsed != nil && status.elapsed == later.elapsed, "nothing runs: the clock does not move")
        let shown = try await ChoreoBinary.run(["status", fixture.batchID, "--db", fixture.databasePath])
        #expect(shown.stdout.contains("  interrupted  ") && shown.stdout.contains("nothing is running"), "\(shown.stdout)")
    }
}
