import ArgumentParser
import ChoreoBatch

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a batch: its pending jobs will not run.",
        discussion: """
            Pending jobs become cancelled (error_kind "cancelled"; exported with code batch_cancelled) \
            and the batch is marked cancelled. Jobs already running are stopped by their runner within a \
            second and become cancelled, keeping the text they received. Finished jobs and their results \
            are kept. A completed batch is left as it is; `choreo resume BATCH --cancelled` undoes a cancel.

            Examples:
              choreo cancel batch_0123456789ab
              choreo cancel nightly --db /data/choreo.sqlite
            """
    )

    @Argument(help: ArgumentHelp("The batch id or name.", valueName: "batch")) var batch: String
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let store = try database.openStore(forWriting: true)
        let result = try store.cancelBatch(try store.batchID(matching: batch))
        if result.previousState == "completed" {
            StandardError.print("\(result.batchID) has already completed; nothing to cancel")
            return
        }
        print(result.batchID)
        var message = "cancelled \(result.cancelledJobs) pending jobs of \(result.batchID)"
        if result.runningJobs > 0 { message += "; \(result.runningJobs) running jobs will be stopped by their runner" }
        StandardError.print(message)
    }
}
