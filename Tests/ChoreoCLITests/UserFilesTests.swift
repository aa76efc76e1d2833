import ChoreoTesting
import Foundation
import Testing

/// Issue 12 part 6: nothing of the user's is touched by mistake.
@Suite("The user's files: a missing database is never created, the demo keeps to its own")
struct UserFilesTests {
    /// Runs `executable` with `arguments`; returns its exit status and what it wrote (stdout and stderr).
    static func capture(_ executable: String, _ arguments: [String], in dir: URL, environment: [String: String] = [:]) async throws -> (Int32, String) {
        let log = dir.appendingPathComponent("out-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let status = try await ChoreoBinary.wait(p, timeout: 300)
        try handle.close()
        return (status, try String(contentsOf: log, encoding: .utf8))
    }

    /// Every command but `submit`, given a mistyped --db, says the same thing, exits 2 and
    /// creates no file (before, `cancel` and `resume` created an empty database and the readers
    /// answered "SQLite error 14").
    @Test(arguments: [
        ["status"], ["results", "batch_000000000000"], ["show", "job-1"], ["sql", "SELECT 1"],
        ["cancel", "batch_000000000000"], ["resume", "batch_000000000000", "--mock"], ["run", "--mock"],
    ])
    func aMissingDatabaseIsReportedAndNotCreated(command: [String]) async throws {
        let dir = TemporaryDirectory("choreo-files")
        let missing = dir.url.appendingPathComponent("typo.sqlite").path
        let (status, output) = try await Self.capture(ChoreoBinary.path, command + ["--db", missing], in: dir.url)
        #expect(status == 2, "\(command): \(output)")
        #expect(output == "choreo: no database at \(missing); submit a batch first\n", "\(command)")
        #expect(!FileManager.default.fileExists(atPath: missing), "\(command) created the database")
        // The same with the path from $CHOREO_DB.
        let (envStatus, envOutput) = try await Self.capture(ChoreoBinary.path, command, in: dir.url, environment: ["CHOREO_DB": missing])
        #expect(envStatus == 2 && envOutput.contains("no database at \(missing); submit a batch first"), "\(command): \(envOutput)")
        #expect(!FileManager.default.fileExists(atPath: missing), "\(command) created the database")
    }

    /// The README tells users to export CHOREO_DB; the demo used to `rm -f` that file.
    @Test func theDemoLeavesTheDatabaseInChoreoDBAlone() async throws {
        let dir = TemporaryDirectory("choreo-files")
        let mine = dir.url.appendingPathComponent("mine.sqlite").path
        let bytes = Data("the user's own batches".utf8)
        #expect(FileManager.default.createFile(atPath: mine, contents: bytes))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (status, output) = try await Self.capture("/bin/bash", [root.appendingPathComponent("scripts/demo.sh").path], in: dir.url,
                                                      environment: ["CHOREO_DB": mine, "CHOREO_DEMO_BINARY": ChoreoBinary.path,
                                                                    "TMPDIR": dir.path])
        #expect(status == 0, "\(output)")
        // Its database is in a directory of its own under $TMPDIR (here the test's, which goes with it).
        #expect(output.contains("demo database: \(dir.path)/choreo-demo."), "\(output)")
        #expect(FileManager.default.contents(atPath: mine) == bytes)
        // It shows all 20 results, and says its warnings are injected faults and its replies filler.
        for i in 1...20 { #expect(output.contains(String(format: "job-%06d", i)), "job \(i) missing: \(output)") }
        #expect(output.contains("faults the mock\ninjects on purpose") && output.contains("filler words"))
    }
}
