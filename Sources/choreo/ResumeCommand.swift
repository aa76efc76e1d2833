import ArgumentParser

// Placeholder until this command lands.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "(not yet available)")
    func run() async throws { throw ExitCode(2) }
}
