import ArgumentParser

// Placeholder until this command lands.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
