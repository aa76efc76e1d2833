import ArgumentParser
import ChoreoAI
import ChoreoBatch

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show how far batches have got.",
        discussion: """
            Per batch: jobs by state, tokens in and out, failures by kind, elapsed time and throughput. \
            Without a batch id, every batch in the database, newest first. Reads only; safe to run \
            while a runner is working on the same database.

            --json prints one object per batch (one per line) shaped like OpenAI's batch object \
            (id, object, status, created_at, request_counts, usage, …) plus Choreo's fields \
            (state, jobs, failures, elapsed_s, jobs_per_s, …).

            Examples:
              choreo status
              choreo status batch_0123456789ab
              choreo status batch_0123456789ab --json | jq .request_counts
            """
    )

    @Argument(help: ArgumentHelp("A batch id or name (default: all batches).", valueName: "batch")) var batch: String?
    @Flag(name: .long, help: "Print JSON, one object per batch and line.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let store = try database.openStore()
        let statuses = try batch.map { [try store.status(batch: $0)] } ?? store.statuses()
        if json {
            for status in statuses { print(status.json.jsonString) }
        } else if statuses.isEmpty {
            StandardError.print("no batches in \(database.shownLocation); submit one with `choreo submit FILE`")
        } else {
            print(statuses.map { $0.rendered() }.joined(separator: "\n\n"))
            print("charts: choreo report\(batch.map { " \($0)" } ?? "") --output report.html  (one offline HTML page)")
        }
    }
}
