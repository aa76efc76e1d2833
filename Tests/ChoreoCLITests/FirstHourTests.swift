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

    /// A cron job says when its run must be done as a clock time (`--deadline 06:30`) or a date
    /// and time without seconds or zone; both were refused as not ISO 8601, and a time past was
    /// taken: the run started nothing and exited 3. The run's first lines say what it took.
    @Test func aDeadlineIsAClockTimeADateAndTimeOrADuration() async throws {
        let fixture = try Fixture(count: 1)
        let env = ["TZ": "Asia/Kolkata"]  // +05:30 all year: what the run says is checked in the user's own zone
        func run(_ deadline: String) async throws -> ChoreoOutput {
            try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--mock", "--deadline", deadline], environment: env)
        }
        var kolkata = Calendar(identifier: .gregorian)
        kolkata.timeZone = try #require(TimeZone(identifier: "Asia/Kolkata"))
        // Two hours from now, to the minute: the next time the clock reads that.
        let soon = kolkata.dateComponents([.year, .month, .day, .hour, .minute], from: Date().addingTimeInterval(2 * 3600))
        let clock = String(format: "%02d:%02d", soon.hour!, soon.minute!)
        let expected = String(format: "%04d-%02d-%02dT%@:00+0530", soon.year!, soon.month!, soon.day!, clock)
        for (deadline, shown) in [(clock, expected), ("2030-06-01T06:30", "2030-06-01T06:30:00+0530"),
                                  ("2030-06-01 06:30:15", "2030-06-01T06:30:15+0530"), ("2030-06-01T06:30Z", "2030-06-01T12:00:00+0530"),
                                  ("2030-06-01T06:30:00-08:00", "2030-06-01T20:00:00+0530")] {
            let r = try await run(deadline)
            #expect(r.status == 0, "--deadline \(deadline): \(r.output)")
            #expect(r.stderr.contains("INFO deadline \(shown) (in "), "--deadline \(deadline): \(r.stderr)")
        }
        let past = try await run("2020-01-01T00:00")
        #expect(past.status == 2 && past.stderr.contains("--deadline 2020-01-01T00:00 has passed: it was 2020-01-01T00:00:00+0530"),
                "\(past.output)")
        for wrong in ["2026-02-30T06:30", "24:00", "06:60", "tomorrow", "90"] {
            let r = try await run(wrong)
            #expect(r.status == 2 && r.stderr.contains("--deadline \(wrong): expected a duration (90s, 45m, 1h30m), a clock time"), "\(r.output)")
        }
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 1)
    }

    /// Every length of time `run` takes is seconds, plain or with units: `--timeout 10m` was
    /// refused ("The value '10m' is invalid") where `--outage-limit 15m` was the only way.
    @Test func everyLengthOfTimeTakesSecondsOrUnits() async throws {
        let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 0, "times": 1]])
        let r = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--mock", "--stall-timeout", "300ms", "--first-byte-timeout", "20m", "--timeout", "10m",
                                            "--lease-seconds", "45s", "--stop-grace", "2", "--outage-limit", "1h30m",
                                            "--first-answer-limit", "2m", "--storage-wait", "90s", "--progress-interval", "1s"])
        #expect(r.status == 0, "\(r.output)")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'stalled' AND error_message LIKE '%for 0.3 s%'") == 1)
        for (flag, value) in [("--timeout", "10x"), ("--stall-timeout", "soon"), ("--outage-limit", "15 m")] {
            let wrong = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--mock", flag, value])
            #expect(wrong.status == 2 && wrong.stderr.contains("The value '\(value)' is invalid for '\(flag) <duration>': "
                + "expected a length of time such as 90, 90s, 10m or 1h30m"), "\(wrong.output)")
        }
    }

    /// A database choreo cannot use says which file and why: one that is not SQLite (a wrong
    /// --db) named no file; another user's, as when cron runs as someone else, said "cannot
    /// create" a file that exists; a folder this user cannot write in said "attempt to write a
    /// readonly database" about a file it could write. The last two run as `nobody`.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv (util-linux) to run choreo as another user"))
    func aDatabaseThatCannotBeUsedSaysWhichFileAndWhy() async throws {
        let scratch = TemporaryDirectory("choreo-files")
        let dir = scratch.url.path
        // Every user may enter the folder and run a copy of the binary there (the build's own
        // folder may be private); the folder itself is root's, not writable by others.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
        let binary = dir + "/choreo"
        try FileManager.default.copyItem(atPath: ChoreoBinary.path, toPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        let jobs = scratch.write("jobs.jsonl", lines: [#"{"custom_id":"a","model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#])
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: jobs)
        func asNobody(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
            let logs = scratch.url.appendingPathComponent("run-\(UUID().uuidString)")  // one run's log alone
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let p = try ChoreoBinary.start(arguments, directory: logs,
                                           launcher: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], binary: binary)
            let status = try await ChoreoBinary.wait(p)
            return (status, try ChoreoBinary.log(in: logs))
        }

        // Not a database: the jobs file given as --db.
        let wrong = try await ChoreoBinary.run(["status", "--db", jobs])
        #expect(wrong.status == 1 && wrong.stderr.contains("\(jobs) is not a SQLite database (file is not a database); check --db"),
                "\(wrong.output)")

        // root's database, made private (0600) as choreo makes it.
        let owned = dir + "/owned.sqlite"
        #expect(try await ChoreoBinary.run(["submit", jobs, "--db", owned]).status == 0)
        let write = try await asNobody(["submit", jobs, "--db", owned])
        #expect(write.status == 1 && write.stderr.contains("cannot open database file \(owned) for writing: Permission denied"), "\(write)")
        let read = try await asNobody(["status", "--db", owned])
        #expect(read.status == 1 && read.stderr.contains("cannot open database \(owned) (unable to open database file: Permission denied)"),
                "\(read)")

        // A database anyone may write, in a folder only root may: its -wal cannot be made.
        let shared = dir + "/shared.sqlite"
        try FileManager.default.copyItem(atPath: owned, toPath: shared)
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: shared)
        let folder = try await asNobody(["submit", jobs, "--db", shared, "--new"])
        #expect(folder.status == 1 && folder.stderr.contains("cannot make files in \(dir), the folder of \(shared): SQLite keeps a database's "
                                                             + "write-ahead log beside it (shared.sqlite-wal and shared.sqlite-shm)"), "\(folder)")
        // And none of the three left a file behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("shared.sqlite-") || $0.hasPrefix("owned.sqlite-") }.isEmpty)
    }

    /// A folder given as --db, and a job file that cannot be read, each say so and leave no
    /// database behind: `status --db FOLDER` said "disk I/O error (Is a directory)", naming
    /// nothing, and `submit` of a misspelt file made an empty database before it found the file
    /// missing.
    @Test func aFolderAsTheDatabaseOrAMissingJobFileSaySoAndLeaveNothing() async throws {
        let scratch = TemporaryDirectory("choreo-files")
        let folder = scratch.path + "/results"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let jobs = scratch.write("jobs.jsonl", lines: [#"{"custom_id":"a","model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#])
        for arguments in [["status", "--db", folder], ["submit", jobs, "--db", folder], ["run", "--db", folder, "--mock"]] {
            let r = try await ChoreoBinary.run(arguments)
            #expect(r.status == 1 && r.stderr.contains("\(folder) is a folder, not a database file; check --db"), "\(arguments): \(r.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        let database = scratch.path + "/new.sqlite"
        let missing = try await ChoreoBinary.run(["submit", scratch.path + "/jbos.jsonl", "--db", database])
        #expect(missing.status == 1 && missing.stderr.contains("cannot read job file \(scratch.path)/jbos.jsonl: No such file or directory"),
                "\(missing.output)")
        #expect(!FileManager.default.fileExists(atPath: database), "a database was made for a job file that could not be read")
    }

    /// A report or a chat's conversation that cannot be written names the file and why, as
    /// `results --output` does; both said "The operation could not be completed.
    /// (NSCocoaErrorDomain error 512.)", the report with exit 2 and the usage of `choreo`.
    @Test func aReportOrAConversationThatCannotBeWrittenSaysWhy() async throws {
        let fixture = try Fixture(count: 1)
        let folder = fixture.directory.appendingPathComponent("reports").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (output, reason) in [(folder, "Is a directory"), (folder + "/missing/report.html", "No such file or directory")] {
            let r = try await ChoreoBinary.run(["report", "--db", fixture.databasePath, "--output", output])
            #expect(r.status == 1 && r.stderr.contains("cannot write \(output): \(reason)") && !r.stderr.contains("Usage"), "\(r.output)")
        }
        let written = try await ChoreoBinary.run(["report", "--db", fixture.databasePath, "--output", folder + "/report.html"])
        #expect(written.status == 0, "\(written.output)")
        #expect(try String(contentsOfFile: folder + "/report.html", encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        // `choreo chat` reading its lines from a pipe: /save into the folder, then into a file.
        let chat = try await ChoreoBinary.run(["chat", "--mock"], input: "/save \(folder)\n/save \(folder)/conversation.json\n")
        #expect(chat.stderr.contains("could not save: cannot write \(folder): Is a directory")
                && chat.stderr.contains("[saved 0 messages to \(folder)/conversation.json]"), "\(chat.output)")
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
        #expect(r.stderr.contains("choreo sql only reads") && !r.stderr.contains("disk I/O"), "\(r.stderr)")
        #expect(try fixture.scalar("PRAGMA journal_mode", text: true) == "wal")
    }

    @Test func showFinishReasonPrintsItOnce() async throws {
        let r = try await ChoreoBinary.run(["ask", "--mock", "--mock-chunk-delay-ms", "0", "--show-finish-reason", "hi"])
        #expect(r.status == 0)
        #expect((r.stdout + r.stderr).components(separatedBy: "finish_reason").count - 1 == 1, "out: \(r.stdout) err: \(r.stderr)")
        #expect(r.stdout.hasSuffix("[finish_reason: stop]\n"))
    }

    /// ArgumentParser wraps help text at the terminal's width, and the rest of an indented line
    /// (an example's command, a row of the exit codes) then lands in column 0. Printed unwrapped,
    /// every indented line of every page fits 80 columns, but for a line of one word (a JSON
    /// example), which no width wraps.
    @Test func helpExamplesAndTablesFitIn80Columns() async throws {
        let commands = ["submit", "run", "resume", "status", "results", "show", "sql", "cancel", "index", "ask", "chat", "mock",
                        "report", "estimate", "cache"]
        for arguments in [["--help"]] + commands.map({ [$0, "--help"] }) {
            let r = try await ChoreoBinary.run(arguments, environment: ["COLUMNS": "1000"])
            #expect(r.status == 0)
            let text = ProgressDisplayTests.lines(r.stdout).prefix(while: { !$0.hasPrefix("USAGE:") })
            #expect(text.count > 2, "\(arguments): \(r.output)")
            for line in text where line.hasPrefix(" ") && line.count > 80 && line.trimmingCharacters(in: .whitespaces).contains(" ") {
                Issue.record("choreo \(arguments.joined(separator: " ")): this line wraps at 80 columns: \"\(line)\"")
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
