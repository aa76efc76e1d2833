import ChoreoAI
import ChoreoBatch
import ChoreoMock
import Foundation
import Testing
import ChoreoSQLite

/// Stopping a run whose every slot is streaming: signals, the deadline and `choreo cancel` are
/// acted on at once (not when some stream happens to end), and every job keeps the text it had.
///
/// Every stream sends two chunks and then nothing, its connection open, and the stall timeout is
/// ten minutes: no stream can end by itself, however loaded the machine, so a stop that waited
/// for a stream to end would never end, and `ChoreoBinary.wait`'s 30 s fails the test. (Bounds
/// of a few seconds failed on a loaded machine: a stop's promptness is the structure, not a clock.)
@Suite("Stopping is prompt under full load")
struct StoppingTests {
    static let jobs = 64
    static let slowRun = ["--mock", "--mock-chunk-delay-ms", "50", "--stall-timeout", "600", "--concurrency", "\(jobs)"]

    /// 64 jobs whose streams stall, open, after two chunks.
    static func fixture() throws -> Fixture {
        try Fixture(count: jobs, extra: ["mock": ["fault": "stall", "after": 2]])
    }

    /// Waits until every job has flushed some text (all 64 streams are receiving), or fails.
    static func waitUntilAllStreaming(_ fixture: Fixture, _ p: Process) async throws {
        for _ in 0..<1500 {
            if try fixture.scalar("SELECT count(*) FROM partials WHERE state = 'running' AND partial_output <> ''") == jobs { return }
            if !p.isRunning { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        Issue.record("the \(jobs) streams never all received text")
    }

    /// The text each job had on disk (custom_id → length).
    static func storedLengths(_ fixture: Fixture) throws -> [String: Int] {
        let db = try Database(path: fixture.databasePath, readOnly: true)
        var out: [String: Int] = [:]
        try db.query("SELECT custom_id, length(coalesce(partial_output, '')) FROM partials") { out[$0.string(0)!] = $0.int(1)! }
        return out
    }

    /// Every job still has at least the text it had before the stop, and nothing is left running.
    static func expectTextKept(_ fixture: Fixture, before: [String: Int], state: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let after = try storedLengths(fixture)
        let lost = before.filter { $0.value == 0 || (after[$0.key] ?? 0) < $0.value }
        #expect(lost.isEmpty, "jobs without their text: \(lost.keys.sorted().prefix(5))", sourceLocation: sourceLocation)
        #expect(try fixture.scalar("SELECT count(*) FROM partials WHERE state = '\(state)' AND partial_output <> ''") == jobs, sourceLocation: sourceLocation)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 0, sourceLocation: sourceLocation)
        #expect(try fixture.integrityCheck() == "ok", sourceLocation: sourceLocation)
    }

    @Test func sigtermWithEveryStreamOpenExits143KeepingTheText() async throws {
        let fixture = try Self.fixture()
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.slowRun, directory: fixture.directory)
        try await Self.waitUntilAllStreaming(fixture, p)
        let before = try Self.storedLengths(fixture)
        kill(p.processIdentifier, SIGTERM)
        let status = try await ChoreoBinary.wait(p, timeout: 30)
        #expect(status == 143)
        try Self.expectTextKept(fixture, before: before, state: "pending")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND received_text <> ''") == Self.jobs)
    }

    @Test func theDeadlineWithEveryStreamOpenExits3KeepingTheText() async throws {
        let fixture = try Self.fixture()
        // Time enough for the 64 streams to start, however loaded the machine.
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--deadline", "8s"] + Self.slowRun, directory: fixture.directory)
        try await Self.waitUntilAllStreaming(fixture, p)
        let before = try Self.storedLengths(fixture)
        let status = try await ChoreoBinary.wait(p, timeout: 30)
        #expect(status == 3)
        try Self.expectTextKept(fixture, before: before, state: "pending")
    }

    @Test func cancelFromAnotherProcessStopsTheStreamsAtOnceAndTheJobsKeepTheirText() async throws {
        let fixture = try Self.fixture()
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.slowRun, directory: fixture.directory)
        try await Self.waitUntilAllStreaming(fixture, p)
        let before = try Self.storedLengths(fixture)
        let cancel = try await ChoreoBinary.run(["cancel", fixture.batchID, "--db", fixture.databasePath])
        #expect(cancel.status == 0)
        // The streams stop; the run then ends (its only batch is over).
        let status = try await ChoreoBinary.wait(p, timeout: 30)
        #expect(status == 0)
        try Self.expectTextKept(fixture, before: before, state: "cancelled")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'cancelled' AND received_text <> ''") == Self.jobs)
        #expect(try ChoreoBinary.log(in: fixture.directory).contains("batch \(fixture.batchID) cancelled"))

        // status: cancelled, not a full bar.
        let status1 = try await ChoreoBinary.run(["status", fixture.batchID, "--db", fixture.databasePath])
        #expect(status1.output.contains("cancelled"))
        #expect(!status1.output.contains("100.0%"))
        // resume: says the cancelled jobs are not requeued, and how to requeue them.
        let resume = try await ChoreoBinary.run(["resume", fixture.batchID, "--db", fixture.databasePath, "--mock"])
        #expect(resume.status == 0)
        #expect(resume.output.contains("not requeued") && resume.output.contains("--cancelled"))
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'cancelled'") == Self.jobs)
        let reopen = try await ChoreoBinary.run(["resume", fixture.batchID, "--cancelled", "--no-run", "--db", fixture.databasePath])
        #expect(reopen.status == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM partials WHERE state = 'pending' AND partial_output <> ''") == Self.jobs)
        #expect(try fixture.scalar("SELECT count(*) FROM batches WHERE state = 'pending'") == 1)
    }

    /// A stop that cannot finish (here: another process holds the database's write lock) is cut
    /// short by a second signal, or by the grace period after a signal or the deadline; what the
    /// streams received is still written.
    @Test(arguments: ["second signal", "grace period", "deadline"])
    func aStuckStopIsAbortedAndTheTextIsStillWritten(by trigger: String) async throws {
        let fixture = try Self.fixture()
        var arguments = ["run", "--db", fixture.databasePath, "--stop-grace", trigger == "second signal" ? "600" : "1"]
        // Time enough for the 64 streams to start and the lock to be taken, however loaded the machine.
        if trigger == "deadline" { arguments += ["--deadline", "8s"] }
        let p = try ChoreoBinary.start(arguments + Self.slowRun, directory: fixture.directory)
        try await Self.waitUntilAllStreaming(fixture, p)
        let lock = try Database(path: fixture.databasePath)
        try lock.execute("BEGIN IMMEDIATE")
        let before = try Self.storedLengths(fixture)
        if trigger != "deadline" { kill(p.processIdentifier, SIGTERM) }
        if trigger == "second signal" {
            try await ChoreoBinary.waitForLog(of: p, in: fixture.directory, containing: "SIGTERM: stopping")
            kill(p.processIdentifier, SIGTERM)
        }
        try await ChoreoBinary.waitForLog(of: p, in: fixture.directory, containing: "aborting; writing what was received")
        try lock.execute("COMMIT")
        let status = try await ChoreoBinary.wait(p, timeout: 30)
        #expect(status == (trigger == "deadline" ? 3 : 143))
        try Self.expectTextKept(fixture, before: before, state: "pending")
    }
}

/// `choreo.sqlite` alone holds everything once a writing command has exited: a copy of the main
/// file (without its `-wal`) is a whole backup.
///
/// Each test keeps a reader connection open meanwhile (another terminal's `choreo status`): then
/// the command's connection is not the file's last, and closing it does not checkpoint by itself.
@Suite("The database file alone holds everything")
struct CheckpointTests {
    static func watcher(_ fixture: Fixture) throws -> Database {
        let db = try Database(path: fixture.databasePath, readOnly: true)
        _ = try db.queryOne("SELECT count(*) FROM jobs") { $0.int(0) }
        return db
    }

    /// Copies only the main file and opens the copy.
    static func copyOfMainFile(_ fixture: Fixture) throws -> Database {
        let copy = fixture.directory.appendingPathComponent("copy-\(UUID().uuidString).sqlite").path
        try FileManager.default.copyItem(atPath: fixture.databasePath, toPath: copy)
        return try Database(path: copy, readOnly: true)
    }

    static func count(_ db: Database, _ sql: String) throws -> Int { try db.queryOne(sql) { $0.int(0) ?? 0 } ?? 0 }

    @Test func afterARunThatExits0() async throws {
        let fixture = try Fixture(count: 30)
        let watcher = try Self.watcher(fixture)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--mock", "--mock-chunk-delay-ms", "0"], directory: fixture.directory)
        #expect(try await ChoreoBinary.wait(p) == 0)
        let copy = try Self.copyOfMainFile(fixture)
        #expect(try Self.count(copy, "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output <> ''") == 30)
        #expect(try Self.count(copy, "SELECT count(*) FROM batches WHERE state = 'completed'") == 1)
        withExtendedLifetime(watcher) {}
    }

    @Test func afterARunThatWasSigtermed() async throws {
        let fixture = try Fixture(count: 40)
        let watcher = try Self.watcher(fixture)
        // About half the streams stall after two chunks with their connection open: the run cannot
        // end before the signal, however late a loaded machine lets the test send it.
        let server = try await MockServer.start(config: MockConfig(faultRate: 0.5, faultKinds: [.stall], seed: 3, faultAfterChunks: 2))
        defer { Task { try? await server.shutdown() } }
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--stall-timeout", "600", "--concurrency", "40"] + fixture.configuration(pointingAt: server),
                                       directory: fixture.directory)
        for _ in 0..<1500 where try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") < 5 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        kill(p.processIdentifier, SIGTERM)
        #expect(try await ChoreoBinary.wait(p) == 143)
        let copy = try Self.copyOfMainFile(fixture)
        let succeeded = try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
        #expect(succeeded >= 5)
        #expect(try Self.count(copy, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") == succeeded)
        #expect(try Self.count(copy, "SELECT count(*) FROM partials WHERE partial_output <> ''")
                == (try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''")))
        #expect(try Self.count(copy, "SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
        withExtendedLifetime(watcher) {}
    }

    @Test func afterSubmitAndCancel() async throws {
        let fixture = try Fixture(count: 3)
        let watcher = try Self.watcher(fixture)
        let file = fixture.directory.appendingPathComponent("more.jsonl")
        try #"{"custom_id": "x", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}"#.write(to: file, atomically: true, encoding: .utf8)
        let submit = try await ChoreoBinary.run(["submit", file.path, "--db", fixture.databasePath])
        #expect(submit.status == 0)
        let cancel = try await ChoreoBinary.run(["cancel", fixture.batchID, "--db", fixture.databasePath])
        #expect(cancel.status == 0)
        let copy = try Self.copyOfMainFile(fixture)
        #expect(try Self.count(copy, "SELECT count(*) FROM batches") == 2)
        #expect(try Self.count(copy, "SELECT count(*) FROM jobs WHERE state = 'cancelled'") == 3)
        withExtendedLifetime(watcher) {}
    }
}
