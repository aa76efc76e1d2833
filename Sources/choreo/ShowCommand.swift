import ArgumentParser

// Placeholder until this command lands.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
