import ArgumentParser

// Placeholder until this command lands.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
