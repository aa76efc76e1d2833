import ChoreoAI
import ChoreoBatch
import Foundation
import Synchronization
import Testing

/// The smaller things a new user trips on in the first hour (issue 19), each as they met it.
@Suite struct FirstHourTests {
    /// Runs `choreo` to the end: exit code, standard output, standard error.
    static func choreo(_ arguments: [String], environment: [String: String] = [:]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ChoreoBinary.path)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OPENAI_API_KEY"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both to the end at once: a full pipe would block the child.
        let errData = Mutex<Data>(Data())
        let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while reader.isExecuting || !reader.isFinished { usleep(1000) }
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    @Test func resumeTakesABatchName() throws {
        let fixture = try Fixture(count: 2)
        let db = try Database(path: fixture.databasePath)
        try db.run("UPDATE batches SET name = 'nightly' WHERE id = ?", [.text(fixture.batchID)])
        let named = try Self.choreo(["resume", "nightly", "--no-run", "--db", fixture.databasePath])
        #expect(named.code == 0, "\(named.err)")
        #expect(named.err.contains("requeued 0 jobs of \(fixture.batchID)"), "\(named.err)")
        let unknown = try Self.choreo(["resume", "nosuch", "--no-run", "--db", fixture.databasePath])
        #expect(unknown.code == 1)
        #expect(unknown.err.contains("no batch \"nosuch\"") && !unknown.err.contains("Usage:"), "\(unknown.err)")
    }

    @Test func anEmptyFileIsSaidToBeEmpty() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("choreo-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("jobs.jsonl").path
        for content in ["", "\n\n  \n"] {
            try content.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try Self.choreo(["submit", file, "--db", directory.appendingPathComponent("t.sqlite").path])
            #expect(r.code == 1)
            #expect(r.err.contains("the file has no job lines"), "\(r.err)")
            #expect(!r.err.contains("line 0") && !r.err.contains("invalid line") && !r.err.contains("--skip-invalid"), "\(r.err)")
        }
        // Every line invalid, and --skip-invalid given: the advice does not repeat the flag.
        try "{\"custom_id\": 1}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Self.choreo(["submit", file, "--skip-invalid", "--db", directory.appendingPathComponent("t.sqlite").path])
        #expect(r.code == 1)
        #expect(r.err.contains("line 1") && !r.err.contains("--skip-invalid"), "\(r.err)")
    }

    /// It used to answer "disk I/O error" on a healthy database.
    @Test func aSettingPragmaIsRefusedAsReadOnlyNotAsADiskError() throws {
        let fixture = try Fixture(count: 1)
        let r = try Self.choreo(["sql", "--db", fixture.databasePath, "PRAGMA journal_mode=DELETE"])
        #expect(r.code == 1)
        #expect(r.err.contains("read-only") && !r.err.contains("disk I/O"), "\(r.err)")
        #expect(try fixture.scalar("PRAGMA journal_mode", text: true) == "wal")
    }

    @Test func showFinishReasonPrintsItOnce() throws {
        let r = try Self.choreo(["ask", "--mock", "--mock-chunk-delay-ms", "0", "--show-finish-reason", "hi"])
        #expect(r.code == 0)
        #expect((r.out + r.err).components(separatedBy: "finish_reason").count - 1 == 1, "out: \(r.out) err: \(r.err)")
        #expect(r.out.hasSuffix("[finish_reason: stop]\n"))
    }

    /// ArgumentParser wraps a too-long example line at the terminal's width, cutting the command.
    @Test func helpExamplesFitIn80Columns() throws {
        for command in ["submit", "run", "resume", "status", "results", "show", "sql", "cancel", "ask", "chat", "mock"] {
            let r = try Self.choreo(["help", command], environment: ["COLUMNS": "80"])
            #expect(r.code == 0)
            let lines = ProgressDisplayTests.lines(r.out)
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
        let shown = try Self.choreo(["status", fixture.batchID, "--db", fixture.databasePath])
        #expect(shown.out.contains("  interrupted  ") && shown.out.contains("nothing is running"), "\(shown.out)")
    }
}
