import ChoreoBatch
import Foundation
import Testing

/// The disk under the runner fails: it fills up, a file-size limit is reached, the database file
/// is deleted or replaced during the run. The real `choreo` binary and its built-in mock; every
/// wait is for an event (a number of rows, the process's exit), never for a time.
/// RELIABILITY.md, "Storage faults".
@Suite("Storage faults", .serialized)
struct StorageFaultTests {
    /// The exit codes of `choreo run` for these faults (README, "Exit codes").
    static let storageFull: Int32 = 75
    static let databaseLost: Int32 = 74

    /// Streams that last a while (a reply is at least 12 chunks), so faults land mid-stream.
    static let run = ["--mock", "--mock-chunk-delay-ms", "20", "--concurrency", "16", "--lease-seconds", "3"]

    /// A tmpfs of `size` mounted on a new directory; nil (with the reason printed) when this
    /// machine cannot mount one.
    final class SmallDisk {
        /// Whether this machine can mount a tmpfs: the tests that need one are skipped, and say
        /// so, where it cannot (rather than passing without checking anything).
        static let canMount = SmallDisk(size: "1m") != nil
        let url: URL
        init?(size: String) {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("choreo-disk-\(UUID().uuidString)")
            try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            let (status, output) = Self.sh("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", url.path])
            if status != 0 {
                print("skipped: cannot mount a tmpfs here (\(output.trimmingCharacters(in: .whitespacesAndNewlines)))")
                return nil
            }
        }
        deinit {
            _ = Self.sh("/bin/umount", ["-l", url.path])
            try? FileManager.default.removeItem(at: url)
        }
        /// Bytes free on the disk.
        var free: Int {
            var s = statvfs()
            statvfs(url.path, &s)
            return Int(s.f_bavail) * Int(s.f_frsize)
        }
        /// Fills the disk up to `leaving` bytes free with a file that `release` deletes.
        func fill(leaving: Int) throws {
            let size = free - leaving
            let fd = open(url.appendingPathComponent("filler").path, O_CREAT | O_WRONLY, 0o600)
            defer { close(fd) }
            let chunk = [UInt8](repeating: 0x55, count: 64 * 1024)
            var written = 0
            while written < size {
                let n = write(fd, chunk, min(chunk.count, size - written))
                guard n > 0 else { throw POSIXError(.ENOSPC) }
                written += n
            }
        }
        func release() throws { try FileManager.default.removeItem(at: url.appendingPathComponent("filler")) }

        static func sh(_ tool: String, _ arguments: [String]) -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = arguments
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            do { try p.run() } catch { return (-1, "\(error)") }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    /// The "N succeeded" of the run's summary line.
    static func reportedSucceeded(_ log: String) -> Int? {
        guard let r = log.range(of: #"(\d+) succeeded, \d+ failed in this run"#, options: .regularExpression) else { return nil }
        return Int(log[r].prefix { $0.isNumber })
    }

    /// Waits until `count` jobs have succeeded, or the process ended.
    static func waitForSucceeded(_ fixture: Fixture, _ p: Process, atLeast count: Int) async throws {
        for _ in 0..<3000 {
            if try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") >= count { return }
            if !p.isRunning { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        Issue.record("\(count) jobs never succeeded")
    }

    /// After a run stopped by a storage fault: it said why, what it reported is what is in the
    /// file, and once the fault is gone the next run ends every job exact.
    static func expectStoppedThenRecovered(_ fixture: Fixture, _ p: Process, status: Int32,
                                           free: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(p.terminationReason == .exit, "killed by a signal: \(log.suffix(400))", sourceLocation: sourceLocation)
        #expect(status == storageFull, "\(log.suffix(600))", sourceLocation: sourceLocation)
        #expect(log.contains("database or disk is full: \(fixture.databasePath)"), "\(log.suffix(600))", sourceLocation: sourceLocation)
        #expect(log.contains("jobs left pending"), sourceLocation: sourceLocation)
        try free()
        // Never a success that is not in the file.
        let committed = try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
        #expect(reportedSucceeded(log) == committed, "reported \(reportedSucceeded(log) ?? -1), committed \(committed)",
                sourceLocation: sourceLocation)
        #expect(committed < fixture.jobs.count, "the disk never filled up", sourceLocation: sourceLocation)
        #expect(try fixture.integrityCheck() == "ok", sourceLocation: sourceLocation)

        let again = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + run, directory: fixture.directory)
        let againStatus = try await ChoreoBinary.wait(again, timeout: 120)
        let againLog = try ChoreoBinary.log(in: fixture.directory)
        #expect(againStatus == 0, "\(againLog.suffix(600))", sourceLocation: sourceLocation)
        try fixture.expectAllExact(sourceLocation: sourceLocation)
        #expect(try fixture.integrityCheck() == "ok", sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: SmallDisk.canMount, "cannot mount a tmpfs here"))
    func aFullDiskStopsTheRunWithItsExitCodeAndTheNextRunEndsEveryJobExact() async throws {
        let disk = try #require(SmallDisk(size: "16m"))
        let fixture = try Fixture(count: 200, databaseDirectory: disk.url)
        try disk.fill(leaving: 48 * 1024)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--storage-wait", "2s"] + Self.run, directory: fixture.directory)
        let status = try await ChoreoBinary.wait(p, timeout: 60)
        try await Self.expectStoppedThenRecovered(fixture, p, status: status, free: { try disk.release() })
    }

    /// RLIMIT_FSIZE (`ulimit -f`) reached: the runner ignores SIGXFSZ, so the write fails (EFBIG)
    /// instead of the process dying, and it stops as on a full disk.
    @Test func aFileSizeLimitStopsTheRunWithItsExitCodeAndTheNextRunEndsEveryJobExact() async throws {
        let fixture = try Fixture(count: 200)
        let size = try FileManager.default.attributesOfItem(atPath: fixture.databasePath)[.size] as! Int
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--storage-wait", "2s"] + Self.run, directory: fixture.directory,
                                       launcher: ["/usr/bin/prlimit", "--fsize=\(size + 48 * 1024)"])
        let status = try await ChoreoBinary.wait(p, timeout: 60)
        try await Self.expectStoppedThenRecovered(fixture, p, status: status, free: {})
    }

    /// A log shipper reading `--log-format json` learns the same from the progress objects:
    /// `storage_fault` with its reason and how long until the run stops, and no `eta_seconds`.
    @Test func theJSONProgressLinesCarryTheStorageFault() async throws {
        let fixture = try Fixture(count: 200)
        let size = try FileManager.default.attributesOfItem(atPath: fixture.databasePath)[.size] as! Int
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--storage-wait", "5s", "--log-format", "json",
                                        "--progress-interval", "0.2"] + Self.run, directory: fixture.directory,
                                       launcher: ["/usr/bin/prlimit", "--fsize=\(size + 48 * 1024)"])
        let status = try await ChoreoBinary.wait(p, timeout: 60)
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(status == Self.storageFull, "\(log.suffix(600))")
        let progress = log.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }.filter { $0["event"] as? String == "progress" }
        let faulted = progress.filter { $0["storage_fault"] != nil }
        #expect(!faulted.isEmpty, "\(log.suffix(600))")
        for line in faulted {
            let fault = line["storage_fault"] as? [String: Any]
            #expect(fault?["reason"] as? String == "disk full", "\(line)")
            #expect((fault?["stops_in_seconds"] as? Int).map { (0...5).contains($0) } == true, "\(line)")
            #expect(line["eta_seconds"] == nil, "\(line)")
        }
    }

    /// Space that comes back within --storage-wait: the run goes on and ends every job. Meanwhile
    /// its progress lines say the database cannot be written, and until when it waits.
    @Test(.enabled(if: SmallDisk.canMount, "cannot mount a tmpfs here"))
    func spaceFreedWithinTheWaitLetsTheRunFinishEveryJobExact() async throws {
        let disk = try #require(SmallDisk(size: "16m"))
        let fixture = try Fixture(count: 200, databaseDirectory: disk.url)
        try disk.fill(leaving: 48 * 1024)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--storage-wait", "10m", "--progress-interval", "0.2"] + Self.run,
                                       directory: fixture.directory)
        try await ChoreoBinary.waitForLog(of: p, in: fixture.directory, containing: "database or disk is full")
        // The progress lines say why nothing ends (and give no estimate that only grows).
        try await ChoreoBinary.waitForLog(of: p, in: fixture.directory, containing: "(disk full); stopping in 9:")
        let waiting = try ChoreoBinary.log(in: fixture.directory).split(separator: "\n").filter { $0.contains("database not writable for") }
        #expect(!waiting.isEmpty && waiting.allSatisfy { $0.contains(" done · ") && !$0.contains("ETA") }, "\(waiting)")
        try disk.release()
        let status = try await ChoreoBinary.wait(p, timeout: 120)
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(status == 0, "\(log.suffix(600))")
        #expect(log.contains("writable again"))
        #expect(Self.reportedSucceeded(log) == 200)
        try fixture.expectAllExact()
    }

    /// A database on a read-only file system: a clear error naming the file before any job is
    /// touched, not a run whose every write fails.
    @Test(.enabled(if: SmallDisk.canMount, "cannot mount a tmpfs here"))
    func aDatabaseOnAReadOnlyFileSystemIsRefusedWithAClearError() async throws {
        let disk = try #require(SmallDisk(size: "4m"))
        let fixture = try Fixture(count: 5, databaseDirectory: disk.url)
        let (remount, output) = SmallDisk.sh("/bin/mount", ["-o", "remount,ro", disk.url.path])
        #expect(remount == 0, "\(output)")
        let run = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--mock"])
        #expect(run.status == 1)
        #expect(run.output.contains("cannot open database file \(fixture.databasePath) for writing: Read-only file system"), "\(run.output)")
    }

    @Test func aDatabaseDeletedDuringTheRunStopsItWithAnErrorNotASuccess() async throws {
        let fixture = try Fixture(count: 300)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.run, directory: fixture.directory)
        try await Self.waitForSucceeded(fixture, p, atLeast: 30)
        #expect(unlink(fixture.databasePath) == 0)
        let status = try await ChoreoBinary.wait(p, timeout: 60)
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(status == Self.databaseLost, "\(log.suffix(600))")
        #expect(log.contains("\(fixture.databasePath) was deleted"), "\(log.suffix(600))")
        #expect(!log.contains(": finished"))
        #expect(!FileManager.default.fileExists(atPath: fixture.databasePath))
    }

    @Test func aDatabaseReplacedByAnOlderCopyDuringTheRunStopsItAndTheCopyStaysWhole() async throws {
        let fixture = try Fixture(count: 300)
        let older = fixture.directory.appendingPathComponent("older.sqlite").path
        try FileManager.default.copyItem(atPath: fixture.databasePath, toPath: older)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.run, directory: fixture.directory)
        try await Self.waitForSucceeded(fixture, p, atLeast: 30)
        #expect(rename(older, fixture.databasePath) == 0)
        let status = try await ChoreoBinary.wait(p, timeout: 60)
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(status == Self.databaseLost, "\(log.suffix(600))")
        #expect(log.contains("\(fixture.databasePath) was replaced"), "\(log.suffix(600))")
        #expect(!log.contains(": finished"))
        // The copy is what the user put there: whole, and untouched by the runner's writes.
        #expect(try fixture.integrityCheck() == "ok")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 300)
        // And it runs.
        let again = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.run, directory: fixture.directory)
        #expect(try await ChoreoBinary.wait(again, timeout: 120) == 0)
        try fixture.expectAllExact()
    }
}
