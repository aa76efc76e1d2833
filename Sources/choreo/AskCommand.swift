import ArgumentParser
import ChoreoAI
import ChoreoMock
import Foundation

struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Stream one chat completion to standard output as it arrives.",
        discussion: """
            The model picks the provider: claude-* → Anthropic, gemini-* → Gemini, anything else → \
            OpenAI-compatible (OPENAI_BASE_URL / OPENAI_API_KEY), unless the configuration says otherwise. \
            The finish reason goes to standard error (to standard output instead with --show-finish-reason).

            Examples:
              choreo ask "Write a haiku about SQLite"
              choreo ask -m claude-sonnet-4-5 --system "Answer in French." "What is WAL?"
              choreo ask --mock --json "hello" | jq .choices[0].delta.content
              choreo ask --max-tokens 50 --output answer.txt "Explain backpressure"
            """
    )

    @Argument(help: "The prompt.") var prompt: String
    @Option(name: .shortAndLong, help: "Model name.") var model = "gpt-4o-mini"
    @Option(name: .long, help: "A system message.") var system: String?
    @Option(name: .customLong("max-tokens"), help: "Completion token budget.") var maxTokens: Int?
    @Option(name: .long, help: "Sampling temperature.") var temperature: Double?
    @Option(name: .customLong("base-url"), help: "OpenAI-compatible base URL (overrides OPENAI_BASE_URL), e.g. http://localhost:8000/v1.") var baseURL: String?
    @Flag(name: .customLong("show-finish-reason"), help: "Print the finish reason after the answer on standard output.") var showFinishReason = false
    @Option(name: .shortAndLong, help: "Also write the answer to this file as it arrives.") var output: String?
    @Flag(name: .long, help: "Print one chunk per line as JSON (OpenAI chunk shape) instead of text.") var json = false
    @OptionGroup var providers: ProviderOptions

    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let temperature, !(0...2).contains(temperature) { throw ValidationError("--temperature must be between 0 and 2") }
        if json && showFinishReason { throw ValidationError("--show-finish-reason has no effect with --json (the finish chunk is in the output)") }
    }

    func run() async throws {
        var (router, mock) = try await providers.makeRouter()
        if let baseURL {
            for i in router.providers.indices where router.providers[i].kind == .openAI { router.providers[i].baseURL = baseURL }
        }
        if let missing = ProviderOptions.missingKey(for: model, in: router) { throw UsageError(missing) }
        let client = ChoreoClient(router: router)
        var messages: [ChatMessage] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(prompt))
        var file: FileHandle?
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: output) else {
                throw CLIError("cannot create \(output): \(String(cString: strerror(errno)))")
            }
            file = handle
        }
        defer { try? file?.close() }
        let stdout = FileHandle.standardOutput
        do {
            defer { if let mock { Task { try? await mock.shutdown() } } }
            let stream = try await client.chat.completions.create(
                model: model, messages: messages, stream: true, temperature: temperature, maxTokens: maxTokens, includeUsage: json)
            var finish: FinishReason?
            for try await chunk in stream {
                if json { try stdout.write(contentsOf: Data((chunk.json.jsonString + "\n").utf8)) }
                if let text = chunk.choices.first?.delta.content, !text.isEmpty {
                    let data = Data(text.utf8)
                    if !json { try stdout.write(contentsOf: data) }
                    try file?.write(contentsOf: data)
                }
                if let f = chunk.choices.first?.finishReason { finish = f }
            }
            let reason = finish?.rawValue ?? "none"
            if !json {
                try stdout.write(contentsOf: Data((showFinishReason ? "\n[finish_reason: \(reason)]\n" : "\n").utf8))
            }
            if !showFinishReason { StandardError.print("finish_reason: \(reason)") }
        } catch let e as StreamError {
            try? stdout.write(contentsOf: Data("\n".utf8))
            throw CLIError("the stream broke after \(e.partialText.count) characters: \(e.message)")
        } catch let e as APIError {
            throw CLIError(e.description)
        } catch let e as TransportError {
            throw CLIError(e.description)
        } catch let e as WireError {
            throw CLIError(e.description)
        }
    }
}
