import ArgumentParser

// Placeholder until this command lands.
struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sql", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
