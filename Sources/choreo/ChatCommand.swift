import ArgumentParser
import ChoreoAI
import Foundation

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model, streaming each answer; the conversation is kept between turns.",
        discussion: """
            Type a message and press Return. Commands:
              /model NAME   switch model; the conversation is kept
              /reset        start a new conversation (the --system message stays)
              /help         list the commands
              /quit         leave (so does end of input, Ctrl-D)

            With standard input not a terminal (a script, a pipe) there is no prompt: each line is a \
            message or a command, each answer is streamed to standard output with one blank line \
            between turns, and notes go to standard error. The exit code is 1 when an answer failed.

            Examples:
              choreo chat
              choreo chat --model claude-sonnet-4-5 --system "Answer in French."
              printf 'hello\\n/model gemini-2.5-flash\\nand then?\\n' | choreo chat --mock
            """
    )

    @Option(name: .shortAndLong, help: "Model name (switch later with /model).") var model = "gpt-4o-mini"
    @Option(name: .long, help: "A system message, kept across /reset.") var system: String?
    @OptionGroup var providers: ProviderOptions

    func run() async throws {
        let (router, mock) = try await providers.makeRouter()
        let client = ChoreoAI(router: router)
        let console = Console(isInteractive: isatty(STDIN_FILENO) == 1)
        var conversation = Conversation(model: model, system: system)
        var failedTurns = 0
        console.note("Chatting with \(model). /help lists the commands; /quit or Ctrl-D leaves.", onlyInteractive: true)

        session: while let line = console.readLine() {
            switch Input(line) {
            case .empty:
                continue
            case .quit:
                break session
            case .help:
                console.note(Input.commandList)
            case .reset:
                conversation.reset()
                console.note("[new conversation]")
            case .model(let name):
                guard let provider = client.router.provider(for: name) else {
                    console.note("no provider serves model \"\(name)\"; still using \(conversation.model)")
                    continue
                }
                conversation.model = name
                console.note("[model: \(name), via \(provider.name)]")
            case .unknown(let command):
                console.note("unknown command \(command); /help lists the commands")
            case .message(let text):
                if await !answer(text, in: &conversation, client: client, console: console) { failedTurns += 1 }
            }
        }
        if let mock { try? await mock.shutdown() }
        if failedTurns > 0 { throw ExitCode(ExitCodes.failure) }
    }

    /// Streams the answer to `text`; adds the exchange to the conversation only when it completed.
    private func answer(_ text: String, in conversation: inout Conversation, client: ChoreoAI, console: Console) async -> Bool {
        console.beginAnswer()
        do {
            let stream = try await client.chat.completions.create(
                model: conversation.model, messages: conversation.messages + [.user(text)], stream: true)
            for try await chunk in stream {
                if let content = chunk.content { console.write(content) }
            }
            console.endAnswer()
            conversation.record(user: text, assistant: stream.text)
            return true
        } catch let error as StreamError {
            console.endAnswer()
            console.note("the answer broke off after \(error.partialText.count) characters (\(error.message)); "
                + "it was not added to the conversation: send the message again")
        } catch {
            console.endAnswer()
            console.note("\(error); the message was not added to the conversation")
        }
        return false
    }
}

extension ChatCommand {
    /// The messages sent with each turn: the system message, then every completed exchange.
    struct Conversation {
        var model: String
        let system: String?
        private(set) var messages: [ChatMessage] = []

        init(model: String, system: String?) {
            self.model = model
            self.system = system
            reset()
        }

        mutating func reset() { messages = system.map { [.system($0)] } ?? [] }

        mutating func record(user: String, assistant: String) {
            messages += [.user(user), .assistant(assistant)]
        }
    }

    /// One line typed by the user.
    enum Input: Equatable {
        case empty, quit, reset, help
        case model(String)
        case unknown(String)
        case message(String)

        static let commandList = """
            /model NAME   switch model; the conversation is kept
            /reset        start a new conversation
            /help         this list
            /quit         leave (or Ctrl-D)
            """

        init(_ line: String) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("/") else {
                self = trimmed.isEmpty ? .empty : .message(line)
                return
            }
            let parts = trimmed.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch (parts[0].lowercased(), parts.count > 1 ? parts[1] : "") {
            case ("/quit", _), ("/exit", _): self = .quit
            case ("/reset", _): self = .reset
            case ("/help", _): self = .help
            case ("/model", let name) where !name.isEmpty: self = .model(name)
            default: self = .unknown(trimmed)
            }
        }
    }

    /// The terminal or the script at the other end. Answers go to standard output unbuffered, as
    /// they arrive; notes go to standard error. A prompt is shown only to a person at a terminal.
    /// Turns are separated by one blank line, written when the next turn begins.
    final class Console {
        let isInteractive: Bool
        private var separatorPending = false

        init(isInteractive: Bool) { self.isInteractive = isInteractive }

        /// The next line of input, or nil at end of input.
        func readLine() -> String? {
            if isInteractive {
                write(separatorPending ? "\n> " : "> ")
                separatorPending = false
            }
            return Swift.readLine()
        }

        func beginAnswer() {
            if separatorPending { write("\n") }
            separatorPending = false
        }

        func endAnswer() {
            write("\n")
            separatorPending = true
        }

        /// Writes to standard output; when its reader has gone (`| head`), there is no one left to
        /// answer, so the chat ends (`write(_:)` would trap on the broken pipe instead).
        func write(_ text: String) {
            do {
                try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
            } catch {
                Foundation.exit(ExitCodes.failure)
            }
        }

        func note(_ text: String, onlyInteractive: Bool = false) {
            guard isInteractive || !onlyInteractive else { return }
            try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
        }
    }
}
