import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// `choreo chat` at a real (pseudo-)terminal: Ctrl-C stops an answer, not the chat; the arrow
/// keys recall earlier lines (libedit); /system, /save; Ctrl-C or Ctrl-D at the prompt leaves.
@Suite struct ChatTerminalTests {
    static let model = "gpt-4o-mini"

    static func tokens(_ messages: [JSONValue]) -> [String] { MockContent.tokens(model: model, messages: messages) }

    /// A prompt whose first answer is long enough to interrupt and whose answer under the
    /// system message is short, so the test stays quick.
    static func prompt(system: String) -> String {
        (0..<500).lazy.map { "Question \($0) about moons" }.first { p in
            tokens([["role": "user", "content": .string(p)]]).count >= 40
                && tokens([["role": "system", "content": .string(system)], ["role": "user", "content": .string(p)]]).count <= 20
        }!
    }

    static func steps(_ steps: [(String, String)]) -> String {
        JSONValue.array(steps.map { [.string($0.0), .string($0.1)] }).jsonString
    }

    static func chat(_ steps: [(String, String)], extra: [String] = []) throws -> (output: String, code: Int32) {
        try ProgressDisplayTests.runInTerminal(["--steps", Self.steps(steps), ChoreoBinary.path, "chat", "--mock", "--mock-chunk-delay-ms", "60"] + extra,
                                               columns: 80, wrapped: false)
    }

    @Test func ctrlCStopsTheAnswerAndTheArrowKeysRecallALine() throws {
        let system = "Be brief."
        let prompt = Self.prompt(system: system)
        let first = Self.tokens([["role": "user", "content": .string(prompt)]])
        let scratch = TemporaryDirectory("choreo-chat")
        let directory = scratch.url
        let saved = directory.appendingPathComponent("conversation.json").path
        let (output, code) = try Self.chat([
            ("expect", "> "), ("send", prompt + "\r"), ("expect", prompt + "\r\n"), ("expect", first[0]),
            ("send", "\u{03}"), ("expect", "[answer stopped"), ("expect", "> "),
            ("send", "/system \(system)\r"), ("expect", "[system message set"), ("expect", "> "),
            // Up twice: past "/system …" to the question. Keys reach libedit only once it holds
            // the terminal ("raw"): typed earlier, the kernel would echo or drop them.
            ("raw", ""), ("send", "\u{1B}[A\u{1B}[A\r"), ("expect", "\r\n\r\n> "),
            ("send", "/save \(saved)\r"), ("expect", "[saved 3 messages"), ("expect", "> "),
            ("raw", ""), ("send", "\u{04}"),
        ])
        #expect(code == 0, "\(output.debugDescription)")
        #expect(!output.contains("^[[A"), "arrow keys must edit, not print: \(output.debugDescription)")
        #expect(!output.contains(first.joined()), "the first answer was stopped before its end")
        // The stopped answer is not in the conversation; the recalled question got a full answer.
        let body = try JSONValue.parse(String(contentsOfFile: saved, encoding: .utf8))
        let messages: [JSONValue] = [["role": "system", "content": .string(system)], ["role": "user", "content": .string(prompt)]]
        let answer = MockContent.reply(model: Self.model, messages: messages, maxTokens: nil).text
        #expect(body["model"]?.stringValue == Self.model)
        #expect(body["messages"]?.arrayValue?.map { $0["content"]?.stringValue ?? "" } == [system, prompt, answer])
    }

    @Test func ctrlCAtThePromptLeaves() throws {
        // ^C once libedit holds the terminal ("raw"), as a person at the prompt types it.
        let (output, code) = try Self.chat([("expect", "> "), ("send", "/clear\r"), ("expect", "> "), ("raw", ""), ("send", "\u{03}")])
        #expect(code == 128 + SIGINT, "\(output.debugDescription)")
    }

    @Test func askAndChatRefuseToStartWithoutAKey() async throws {
        let scratch = TemporaryDirectory("choreo-key")
        let directory = scratch.url
        // Not a local server: a key is needed, and none is set (ChoreoBinary.start unsets it).
        let env = ["OPENAI_BASE_URL": "https://api.openai.com/v1"]
        for arguments in [["ask", "hi"], ["chat"]] {
            let p = try ChoreoBinary.start(arguments, directory: directory, environment: env)
            #expect(try await ChoreoBinary.wait(p) == 2)
        }
        let log = try ChoreoBinary.log(in: directory)
        #expect(Self.count("OPENAI_API_KEY is not set: provider openai serves model gpt-4o-mini", in: log) == 2, "\(log)")
        #expect(!log.contains("could not connect"))
    }

    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }
}
