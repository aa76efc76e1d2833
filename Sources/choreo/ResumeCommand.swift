import ArgumentParser
import ChoreoAI
import Foundation
import ChoreoBatch

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Pick a failed or interrupted batch back up.",
        discussion: """
            Puts the batch's interrupted jobs and its retryable failures (rate limits, server errors, \
            stalls, cut streams; with --all every failed job) back in the queue with a fresh attempt \
            budget, then runs them with the same options as `choreo run`. Jobs that succeeded are never \
            run again. Interrupted streams continue from their partial output where the provider can.

            `choreo run` already takes back the jobs of a crashed runner by itself; resume is for \
            failures a person decided to retry.

            Examples:
              choreo resume batch_0123456789ab
              choreo resume batch_0123456789ab --all --concurrency 16
            """
    )

    @Argument(help: "The batch id.") var batch: String
    @Flag(name: .long, help: "Also retry jobs that failed for a reason that is not retryable (400s, auth, quota).") var all = false
    @Flag(name: .long, help: "Only requeue failed jobs; do not run them now.") var noRun = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var flags: RunFlags
    @OptionGroup var providers: ProviderOptions

    /// What `classify` retries, and the attempts of a runner that died (`runner_lost`, set by claims).
    static let retryableKinds = Failure.retryableKinds + ["runner_lost"]

    func run() async throws {
        try DatabaseOptions.requireExisting(database.path)
        let queue = try JobQueue(path: database.path, runnerID: "resume")
        guard try await queue.batchExists(batch) else { throw ValidationError("no batch \(batch) in \(database.path)") }
        let n = try await queue.resume(batch: batch, all: all, retryableKinds: Self.retryableKinds)
        StandardError.print("requeued \(n) jobs of \(batch)")
        if noRun { return }
        let code = try await RunSession.execute(databasePath: database.path, batch: batch, flags: flags, providers: providers)
        if code != 0 { throw ExitCode(code) }
    }
}
