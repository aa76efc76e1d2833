import ArgumentParser
import ChoreoAI
import Foundation
import ChoreoBatch

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Pick a failed or interrupted batch back up.",
        discussion: """
            Puts the batch's interrupted jobs, its retryable failures (rate limits, server errors, \
            stalls, cut streams) and the jobs not sent because their provider was stopped (a bad key, \
            an exhausted quota: provider_stopped) back in the queue with a fresh attempt budget (with \
            --all, every failed job), then runs them with the same options as `choreo run`. Jobs that \
            succeeded are never run again. Interrupted streams continue from their partial output where the provider can.

            `choreo run` already takes back the jobs of a crashed runner by itself; resume is for \
            failures a person decided to retry.

            Cancelled jobs are not requeued: a cancelled batch stays cancelled. --cancelled reopens \
            it and requeues its cancelled jobs too (those stopped mid-stream keep the text they had).

            Examples:
              choreo resume batch_0123456789ab
              choreo resume batch_0123456789ab --all --concurrency 16
              choreo resume batch_0123456789ab --cancelled   # undo `choreo cancel`
            """
    )

    @Argument(help: ArgumentHelp("A batch id or name.", valueName: "batch")) var reference: String
    @Flag(name: .long, help: "Also retry jobs that failed for a reason that is not retryable (400s, auth, quota).") var all = false
    @Flag(name: .long, help: "Reopen a cancelled batch and requeue its cancelled jobs too.") var cancelled = false
    @Flag(name: .long, help: "Only requeue failed jobs; do not run them now.") var noRun = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var flags: RunFlags
    @OptionGroup var providers: ProviderOptions

    func run() async throws {
        let store = try database.openStore(forWriting: true)
        // A name, as every other command takes; an unknown one is an error, not a usage message.
        let batch = try store.batchID(matching: reference)
        let status = try store.status(batch: batch)
        var reopened = 0
        if status.state == "cancelled" {
            guard cancelled else {
                StandardError.print("""
                    \(batch) was cancelled: its \(status.count("cancelled")) cancelled jobs are not requeued and nothing of it runs. \
                    To requeue them (and its failures), run `choreo resume \(batch) --cancelled`.
                    """)
                return
            }
            reopened = try store.reopenBatch(batch)
        }
        let n = try store.requeue(batch: batch, all: all, retryableKinds: FailureKind.resumable)
        StandardError.print("requeued \(n + reopened) jobs of \(batch)" + (reopened > 0 ? " (\(reopened) of them cancelled)" : ""))
        if noRun { return }
        let code = try await RunSession.execute(databasePath: database.path, batch: batch, flags: flags, providers: providers)
        if code != 0 { throw ExitCode(code) }
    }
}
