import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// `choreo chat` driven by a script on standard input (not a terminal: no prompt, answers on
/// standard output separated by one blank line, notes on standard error).
@Suite("choreo chat from a script")
struct ChatCommandTests {
    /// The built `choreo` executable, next to the test bundle.
    static var binary: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("choreo")
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `choreo` with `arguments`, feeding `input` on standard input.
    static func choreo(_ arguments: [String], input: String) async throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CHOREO_CONFIG"] = nil
        process.environment = environment
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        // Files rather than pipes, and a polled exit: blocking reads or waitUntilExit would hold
        // one of the few cooperative threads that every other test running in parallel needs.
        let scratch = TemporaryDirectory("chat")
        let dir = scratch.url
        let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        try Data(input.utf8).write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        if process.isRunning { process.terminate() }
        while process.isRunning { try await Task.sleep(nanoseconds: 20_000_000) }
        return Run(status: process.terminationStatus,
                   stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    @Test func keepsTheConversationSwitchesModelAndResets() async throws {
        let run = try await Self.choreo(["chat", "--mock", "--mock-chunk-delay-ms", "0"],
                                        input: "hello\n/model claude-sonnet-4-5\nsecond\n/reset\nthird\n/quit\nnever sent\n")
        #expect(run.status == 0, "\(run.stderr)")
        func reply(_ model: String, _ messages: [ChatMessage]) -> String {
            MockContent.reply(model: model, messages: messages.map(\.json), maxTokens: nil).text
        }
        let first = reply("gpt-4o-mini", [.user("hello")])
        // The second turn goes to the new model with the first exchange; after /reset only "third".
        let second = reply("claude-sonnet-4-5", [.user("hello"), .assistant(first), .user("second")])
        let third = reply("claude-sonnet-4-5", [.user("third")])
        #expect(second != reply("claude-sonnet-4-5", [.user("second")]))
        #expect(run.stdout == first + "\n\n" + second + "\n\n" + third + "\n")
        #expect(run.stderr == "[model: claude-sonnet-4-5, via anthropic]\n[new conversation]\n")
    }

    @Test func systemMessageIsSentAndSurvivesReset() async throws {
        let run = try await Self.choreo(["chat", "--mock", "--mock-chunk-delay-ms", "0", "--system", "Answer in French.", "-m", "gemini-2.5-flash"],
                                        input: "hello\n/reset\nhello\n")
        #expect(run.status == 0, "\(run.stderr)")
        let answer = MockContent.reply(model: "gemini-2.5-flash", messages: [ChatMessage.system("Answer in French.").json, ChatMessage.user("hello").json], maxTokens: nil).text
        #expect(run.stdout == answer + "\n\n" + answer + "\n")
    }

    @Test func aFailedAnswerIsReportedLeftOutOfTheConversationAndFailsTheExit() async throws {
        // A 429 on every request: each turn fails, the script goes on, the exit code says so.
        let run = try await Self.choreo(["chat", "--mock", "--mock-chunk-delay-ms", "0", "-m", "gpt-4o-mini", "--config", try Self.faultyConfig()],
                                        input: "hello\nagain\n")
        #expect(run.status == 1)
        #expect(run.stderr.components(separatedBy: "HTTP 429").count == 3, "\(run.stderr)")
    }

    @Test func unknownCommandsAreNotSentAsMessages() async throws {
        let run = try await Self.choreo(["chat", "--mock", "--mock-chunk-delay-ms", "0"], input: "/frobnicate\n/help\n\n")
        #expect(run.status == 0)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("unknown command /frobnicate; /help lists the commands\n/model NAME"))
    }

    /// A provider configuration whose OpenAI provider sends `x-mock-fault: 429`.
    static func faultyConfig() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chat-\(UUID().uuidString).json").path
        let json = """
            {"providers": [{"name": "openai", "kind": "openai", "base_url": "http://127.0.0.1:1/v1", "models": ["*"],
                            "headers": {"x-mock-fault": "429"}}]}
            """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
