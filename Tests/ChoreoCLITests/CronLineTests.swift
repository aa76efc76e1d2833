import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// The README's crontab line, run the way cron runs it: `/bin/sh -c` with nothing in the
/// environment but cron's own variables (PATH=/usr/bin:/bin, no CHOREO_BIN).
@Suite struct CronLineTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The command part of the README's first `cron` block line (after the five time fields).
    static func readmeCronCommand() throws -> String {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "```cron\n").dropFirst().first)
        let line = try #require(block.components(separatedBy: "\n").first)
        return line.split(separator: " ", maxSplits: 5).last.map(String.init) ?? ""
    }

    /// Runs `command` (a program and its arguments, after any VAR=value) with cron's bare
    /// environment, `PATH=/usr/bin:/bin` and nothing else: its exit status and what cron would
    /// mail (its standard error). Waits without holding a thread of the test pool: a test that
    /// blocked one for seconds starved the runs of the tests beside it past their deadlines.
    static func underCron(_ command: [String]) async throws -> (status: Int32, mail: String) {
        let scratch = TemporaryDirectory("choreo-cron")
        let mail = scratch.file("mail")
        _ = FileManager.default.createFile(atPath: mail, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["-i", "PATH=/usr/bin:/bin"] + command
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: mail))
        try p.run()
        let status = try await ChoreoBinary.wait(p)
        return (status, try String(contentsOfFile: mail, encoding: .utf8))
    }

    @Test func theReadmeLineRunsUnderCronsEnvironment() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 5)
        // The layout scripts/install.sh makes under a prefix: the binary and the wrapper in bin/.
        let prefix = fixture.directory.appendingPathComponent("prefix/bin")
        let data = fixture.directory.appendingPathComponent("srv")
        try FileManager.default.createDirectory(at: prefix, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.repository.appendingPathComponent("scripts/cron/choreo-cron.sh").path,
                                         toPath: prefix.appendingPathComponent("choreo-cron.sh").path)
        try FileManager.default.createSymbolicLink(atPath: prefix.appendingPathComponent("choreo").path, withDestinationPath: ChoreoBinary.path)
        try FileManager.default.copyItem(atPath: fixture.databasePath, toPath: data.appendingPathComponent("nightly.sqlite").path)
        let keys = data.appendingPathComponent("keys.env")
        try "OPENAI_API_KEY=sk-cron-test\nOPENAI_BASE_URL=\(server.baseURL)\n".write(to: keys, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keys.path)

        let command = try Self.readmeCronCommand()
            .replacingOccurrences(of: "/usr/local/bin/", with: prefix.path + "/")
            .replacingOccurrences(of: "/srv/choreo/", with: data.path + "/")
        #expect(command.contains(prefix.path) && command.contains(data.path), "the README line changed shape: \(command)")
        let cron = { (command: String) async throws -> (status: Int32, mail: String) in
            try await Self.underCron(["SHELL=/bin/sh", "HOME=\(fixture.directory.path)", "LOGNAME=cron", "/bin/sh", "-c", command])
        }
        let (status, mail) = try await cron(command)
        #expect(status == 0, "what cron would mail: \(mail)")

        let log = try String(contentsOf: data.appendingPathComponent("nightly.sqlite.log"), encoding: .utf8)
        let summary = try #require(ProgressDisplayTests.lines(log).compactMap { try? JSONValue.parse($0) }
            .first { $0["event"]?.stringValue == "summary" }, "\(log)")
        #expect(summary["stopped"]?.stringValue == "finished")
        #expect(summary["jobs_left"]?.intValue == 0)
        #expect(summary["succeeded"]?.intValue == 5)
        #expect(!log.contains("sk-cron-test"))

        // Opt-in: CHOREO_REPORT writes the newest batch's report after the run; one that cannot
        // be written is mailed and leaves the run's exit code alone.
        let report = data.appendingPathComponent("report.html")
        let withReport = try await cron("CHOREO_REPORT=\(report.path) " + command)
        #expect(withReport.status == 0 && withReport.mail.isEmpty, "\(withReport.mail)")
        let html = try String(contentsOf: report, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains(fixture.batchID))
        let unwritable = try await cron("CHOREO_REPORT=\(data.path)/no-such-folder/report.html " + command)
        #expect(unwritable.status == 0 && unwritable.mail.contains("could not write the report"), "\(unwritable.mail)")
    }
    }

    /// Exit 3 is quiet when the deadline left work for the next run, and mailed when a provider
    /// did not answer (a wrong base URL would otherwise go unseen night after night): one line a
    /// provider, this run's only.
    @Test func aProviderThatDidNotAnswerIsMailedAndTheDeadlineIsNot() async throws {
        let fixture = try Fixture(count: 3)
        let wrapper = Self.repository.appendingPathComponent("scripts/cron/choreo-cron.sh").path
        let cron = { (environment: [String], arguments: [String]) async throws -> (status: Int32, mail: String) in
            try await Self.underCron(["CHOREO_BIN=\(ChoreoBinary.path)", "CHOREO_DB=\(fixture.databasePath)", "OPENAI_API_KEY=sk-cron-test"]
                               + environment + ["/bin/bash", wrapper] + arguments)
        }
        let line = "choreo: provider openai never answered in this run (connection refused at 127.0.0.1:1): 3 jobs left pending; "
            + "run `choreo run` again once it answers\n"
        for _ in 0..<2 {
            let unanswered = try await cron(["OPENAI_BASE_URL=http://127.0.0.1:1/v1"], ["--first-answer-limit", "1s"])
            #expect(unanswered.status == 3 && unanswered.mail == line, "\(unanswered.mail)")
        }
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(500))) { server in
            let late = try await cron(["OPENAI_BASE_URL=\(server.baseURL)", "CHOREO_DEADLINE=1s"], [])
            #expect(late.status == 3 && late.mail.isEmpty, "\(late.mail)")
        }
    }

    /// With a PostgreSQL URL the wrapper needs a log file of its own (`$CHOREO_DB.log` would be a
    /// path made of the URL) and never shows a password put in the URL.
    @Test func aPostgresURLNeedsALogFileAndItsPasswordIsNeverShown() async throws {
        let wrapper = Self.repository.appendingPathComponent("scripts/cron/choreo-cron.sh").path
        let (status, mail) = try await Self.underCron(["CHOREO_BIN=/bin/false", "CHOREO_DB=postgres://batch:hunter2-secret@db.internal/jobs",
                                                 "/bin/sh", "-c", "exec /bin/bash " + wrapper])
        #expect(status == 2 && mail.contains("set CHOREO_LOG"), "\(mail)")
        #expect(!mail.contains("hunter2-secret") && mail.contains("batch:***@db.internal"), "\(mail)")
    }
}
