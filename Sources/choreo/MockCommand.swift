import ArgumentParser

// Placeholder until this command lands.
struct MockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mock", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
