import ArgumentParser

// Placeholder until this command lands.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
