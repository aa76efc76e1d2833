import ArgumentParser

// Placeholder until this command lands.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ask", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
