import ArgumentParser
import ChoreoAI
import ChoreoBatch

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one job: its request, state, attempts and output.",
        discussion: """
            JOB is a custom_id or a numeric job id. When the same custom_id exists in several batches, \
            choose one with --batch. While a job is running, its partial output so far is shown.

            Examples:
              choreo show job-000042
              choreo show job-000042 --batch batch_0123456789ab
              choreo show 17 --json
            """
    )

    @Argument(help: ArgumentHelp("A custom_id or a numeric job id.", valueName: "job")) var job: String
    @Option(name: .long, help: "The batch to look in (id or name).") var batch: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let detail = try database.openStore().jobDetail(job: job, batch: batch)
        let out = BufferedWriter.standardOutput()  // escapes control characters on a terminal
        try out.write(json ? detail.json.jsonString + "\n" : detail.rendered())
        try out.flush()
    }
}
