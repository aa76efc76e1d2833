import ArgumentParser

// Placeholder until this command lands.
struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "results", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
