import ArgumentParser

// Placeholder until this command lands.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
