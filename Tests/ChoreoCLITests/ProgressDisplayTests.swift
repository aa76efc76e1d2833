import ChoreoAI
import Foundation
import Testing

/// What `choreo run` shows while it works: a live line redrawn in place on a terminal of any
/// width (seen through a real pseudo-terminal), plain log lines elsewhere, nothing with --quiet.
@Suite(.serialized) struct ProgressDisplayTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Short jobs, streamed slowly enough that the line is redrawn several times.
    static func fixture() throws -> Fixture { try Fixture(count: 12, maxTokens: 12) }

    static let runArguments = ["--mock", "--mock-chunk-delay-ms", "25", "--concurrency", "3", "--progress-interval", "0.05"]

    /// Every byte `choreo` sends to a terminal `columns` wide, and its exit code.
    /// `wrapped: false` passes `arguments` to scripts/tty/pty-run.py as they are (steps, then the command).
    static func runInTerminal(_ arguments: [String], columns: Int, wrapped: Bool = true) throws -> (output: String, code: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", repository.appendingPathComponent("scripts/tty/pty-run.py").path, "\(columns)", "24"]
            + (wrapped ? [ChoreoBinary.path] : []) + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENAI_API_KEY"] = nil
        p.environment = environment
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), p.terminationStatus)
    }

    /// The live lines drawn: what follows each `\r ESC[K` up to the next redraw, when no newline
    /// ends it (a newline ends a log line, written after the live line was cleared).
    static func liveLines(_ output: String) -> [String] {
        output.components(separatedBy: "\r\u{1B}[K").dropFirst().filter { !$0.unicodeScalars.contains("\n") }
    }

    @Test(arguments: [40, 80, 200])
    func theLiveLineFitsTheTerminalAndIsRedrawnInPlace(columns: Int) throws {
        let fixture = try Self.fixture()
        let (output, code) = try Self.runInTerminal(["run", "--db", fixture.databasePath] + Self.runArguments, columns: columns)
        #expect(code == 0, "\(output)")
        let lines = Self.liveLines(output)
        #expect(lines.count >= 2, "expected several redraws at \(columns) columns: \(output.debugDescription)")
        for line in lines {
            #expect(line.unicodeScalars.count <= columns - 1, "\(columns) columns, \(line.unicodeScalars.count) drawn: \(line)")
            #expect(line.contains("/12"), "\(line)")
        }
        // Every newline belongs to a log line: the live line never scrolls the screen.
        let newlines = output.unicodeScalars.filter { $0 == "\n" }.count
        let logLines = Self.lines(output).filter { $0.contains(" INFO ") || $0.contains(" WARNING ") || $0.contains(" ERROR ") }.count
        #expect(newlines == logLines, "\(output.debugDescription)")
        if columns >= 80 { #expect(lines.contains { $0.hasPrefix("[") && $0.contains("] ") }, "a bar at \(columns) columns") }
        if columns >= 200 { #expect(lines.contains { $0.contains("in flight") && $0.contains("elapsed") }) }
        try fixture.expectAllExact()
    }

    @Test func quietShowsNoLiveLine() throws {
        let fixture = try Self.fixture()
        let (output, code) = try Self.runInTerminal(["run", "--db", fixture.databasePath, "--quiet"] + Self.runArguments, columns: 80)
        #expect(code == 0)
        #expect(Self.liveLines(output).isEmpty, "\(output.debugDescription)")
        #expect(Self.lines(output).filter { $0.contains(" done · ") }.count == 1, "only the summary: \(output)")
    }

    @Test func withoutATerminalAPlainLineEveryInterval() async throws {
        let fixture = try Self.fixture()
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + Self.runArguments, directory: fixture.directory)
        #expect(try await ChoreoBinary.wait(p) == 0)
        let log = try ChoreoBinary.log(in: fixture.directory)
        #expect(!log.contains("\r") && !log.contains("\u{1B}"), "no terminal control in a log: \(log.debugDescription)")
        let progress = Self.lines(log).filter { $0.contains(" INFO ") && $0.contains(" done · ") }
        #expect(progress.count >= 2, "a progress line every 0.05 s, then the summary: \(log)")
    }

    @Test func theJSONSummarySaysWhyTheRunStoppedAndWhatIsLeft() async throws {
        let fixture = try Self.fixture()
        // One stream at a time, each longer than the deadline: the run stops with work left.
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--log-format", "json", "--quiet", "--mock",
                                        "--mock-chunk-delay-ms", "100", "--concurrency", "1", "--deadline", "1s"],
                                       directory: fixture.directory)
        #expect(try await ChoreoBinary.wait(p) == 3)
        let summary = try #require(try Self.lines(ChoreoBinary.log(in: fixture.directory))
            .compactMap { try? JSONValue.parse($0) }.first { $0["event"]?.stringValue == "summary" })
        #expect(summary["stopped"]?.stringValue == "deadline")
        let left = try #require(summary["jobs_left"]?.intValue)
        #expect(left > 0 && left == 12 - (summary["done"]?.intValue ?? -1))
    }

    /// Lines split at "\n" whether or not a terminal put "\r" before it (a String keeps "\r\n" as one character).
    static func lines(_ text: String) -> [String] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
    }
}
