import ArgumentParser

// Placeholder until this command lands.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
