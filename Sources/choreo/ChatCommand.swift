import ArgumentParser
import CEditLine
import ChoreoAI
import ChoreoBatch
import ChoreoMock
import Foundation

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model, streaming each answer; the conversation is kept between turns.",
        discussion: """
            Type a message and press Return. Lines can be edited, and the arrow keys recall earlier \
            lines. Ctrl-C during an answer stops it (the exchange is left out of the conversation) and \
            returns to the prompt; Ctrl-C or Ctrl-D at the prompt leaves. Commands:
              /model NAME    switch model; the conversation is kept
              /system TEXT   set the system message (kept by /clear)
              /clear         start a new conversation
              /save FILE     write the conversation as one JSON request body
                             ({"model", "messages"})
              /help          list the commands
              /quit          leave

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
    @Option(name: .long, help: "A system message, kept across /clear (change it with /system).") var system: String?
    @OptionGroup var providers: ProviderOptions

    func run() async throws {
        let (router, mock) = try await providers.makeRouter()
        if let missing = ProviderOptions.missingKey(for: model, in: router) { throw UsageError(missing) }
        let client = ChoreoClient(router: router)
        let console = Console(isInteractive: isatty(STDIN_FILENO) == 1)
        var conversation = Conversation(model: model, system: system)
        var failedTurns = 0
        console.note("Chatting with \(model). /help lists the commands; Ctrl-C stops an answer; Ctrl-D leaves.", onlyInteractive: true)

        session: while let line = console.readLine() {
            switch Input(line) {
            case .empty:
                continue
            case .quit:
                break session
            case .help:
                console.note(Input.commandList)
            case .clear:
                conversation.reset()
                console.note("[new conversation]")
            case .system(let text):
                conversation.system = text
                console.note("[system message set; it applies from the next answer]")
            case .save(let path):
                do {
                    try conversation.save(to: path)
                    console.note("[saved \(conversation.messages.count) messages to \(path)]")
                } catch {
                    console.note("could not save: \(error)")
                }
            case .model(let name):
                guard let provider = client.router.provider(for: name) else {
                    console.note("no provider serves model \"\(name)\"; still using \(conversation.model)")
                    continue
                }
                if let missing = ProviderOptions.missingKey(for: name, in: client.router) {
                    console.note("\(missing) Still using \(conversation.model).")
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
    /// At a terminal, Ctrl-C stops the answer (the request is cancelled) instead of the chat.
    /// False when the answer failed (one stopped on purpose did not).
    private func answer(_ text: String, in conversation: inout Conversation, client: ChoreoClient, console: Console) async -> Bool {
        console.beginAnswer()
        var interrupt: Interrupt?
        defer { interrupt?.remove() }
        do {
            let stream = try await client.chat.completions.create(
                model: conversation.model, messages: conversation.messages + [.user(text)], stream: true)
            if console.isInteractive { interrupt = Interrupt { stream.cancel() } }
            for try await chunk in stream {
                if let content = chunk.content { console.write(content) }
            }
            console.endAnswer()
            conversation.record(user: text, assistant: stream.text)
            return true
        } catch is CancellationError {
            console.endAnswer()
            console.note("[answer stopped; it was not added to the conversation]")
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

    /// SIGINT turned into a call of `action` while an answer streams; removed, Ctrl-C goes back
    /// to its default (leaving the chat from the prompt, after libedit restores the terminal).
    final class Interrupt {
        private let source: any DispatchSourceSignal

        init(_ action: @escaping @Sendable () -> Void) {
            signal(SIGINT, SIG_IGN)
            source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
        }

        func remove() {
            source.cancel()
            signal(SIGINT, SIG_DFL)
        }
    }
}

extension ChatCommand {
    /// The messages sent with each turn: the system message, then every completed exchange.
    struct Conversation {
        var model: String
        /// Sent first with every turn; replaced by /system, kept by /clear.
        var system: String?
        private var exchanges: [ChatMessage] = []

        init(model: String, system: String?) {
            self.model = model
            self.system = system
        }

        var messages: [ChatMessage] { (system.map { [.system($0)] } ?? []) + exchanges }

        mutating func reset() { exchanges = [] }

        mutating func record(user: String, assistant: String) {
            exchanges += [.user(user), .assistant(assistant)]
        }

        /// The conversation as a chat-completions request body: `{"model": …, "messages": […]}`,
        /// one line, ready to become a job line or to be sent again.
        func save(to path: String) throws {
            let body: JSONValue = ["model": .string(model), "messages": .array(messages.map(\.json))]
            // Its errors name the file and the system's reason (`cannot write X: Is a directory`).
            let writer = try BufferedWriter(path: path)
            try writer.write(body.jsonString + "\n")
            try writer.flush()
        }
    }

    /// One line typed by the user.
    enum Input: Equatable {
        case empty, quit, clear, help
        case model(String)
        case system(String)
        case save(String)
        case unknown(String)
        case message(String)

        static let commandList = """
            /model NAME    switch model; the conversation is kept
            /system TEXT   set the system message (kept by /clear)
            /clear         start a new conversation
            /save FILE     write the conversation as a JSON request body
            /help          this list
            /quit          leave (or Ctrl-D; Ctrl-C stops an answer)
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
            case ("/clear", _), ("/reset", _): self = .clear
            case ("/help", _): self = .help
            case ("/model", let name) where !name.isEmpty: self = .model(name)
            case ("/system", let text) where !text.isEmpty: self = .system(text)
            case ("/save", let path) where !path.isEmpty: self = .save(path)
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

        /// The next line of input, or nil at end of input. At a terminal, libedit reads it: line
        /// editing, and the arrow keys walk the lines typed before.
        func readLine() -> String? {
            guard isInteractive else { return Swift.readLine() }
            if separatorPending { write("\n") }
            separatorPending = false
            guard let raw = CEditLine.readline("> ") else { return nil }
            defer { free(raw) }
            let line = String(cString: raw)
            if !line.trimmingCharacters(in: .whitespaces).isEmpty { add_history(line) }
            return line
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
