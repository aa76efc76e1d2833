import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

@Suite("Submit crash safety")
struct SubmitCrashTests {
    /// The `choreo` executable built next to this test bundle.
    static var choreoBinary: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ].map { $0.appendingPathComponent("choreo") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test func sigkillDuringARealSubmitLeavesNothingVisibleAndTheNextWriterCleansUp() async throws {
        let binary = try #require(Self.choreoBinary, "the choreo binary should be built next to the tests")
        let dir = TemporaryDirectory()
        let jobs = dir.file("big.jsonl")
        _ = FileManager.default.createFile(atPath: jobs, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: jobs))
        var chunk = ""
        for i in 1...100_000 {
            chunk += batchLine("job-\(i)", "Question number \(i): what is \(i) squared?") + "\n"
            if i % 10_000 == 0 { handle.write(Data(chunk.utf8)); chunk = "" }
        }
        try handle.close()

        let dbPath = dir.file("choreo.sqlite")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["submit", jobs, "--db", dbPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()

        // Wait until the first slice (50,000 lines) has committed: the batch is half in the file.
        let deadline = Date().addingTimeInterval(120)
        var committed = 0
        while process.isRunning, Date() < deadline {
            if FileManager.default.fileExists(atPath: dbPath), let reader = try? Database(path: dbPath, readOnly: true) {
                committed = (try? reader.count("SELECT count(*) FROM jobs")) ?? 0
            }
            if committed > 0 { break }
            try await Task.sleep(nanoseconds: 2_000_000)  // not usleep: it would hold a cooperative thread
        }
        let killedMidway = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(killedMidway, "the submit finished before it could be killed; make the file bigger")
        #expect(committed > 0 && committed < 100_000)

        // Nothing visible: no batch for status, no job for a runner.
        let db = try Database(path: dbPath)
        #expect(try BatchStatus.loadAll(db).isEmpty)
        let queue = try JobQueue(path: dbPath, runnerID: "after-kill")
        #expect(try await queue.claim(limit: 10, leaseSeconds: 30, batch: nil).isEmpty)
        #expect(try await queue.outlook(batch: nil).pending == 0)
        #expect(try db.count("SELECT count(*) FROM jobs") > 0)

        // The next writer (a runner registering; a submit does the same) removes what was left.
        try await queue.registerRunner()
        #expect(try db.count("SELECT count(*) FROM batches") == 0)
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
        #expect(try db.queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
    }
}
