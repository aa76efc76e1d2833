// Public: a conformance of a public type to a public protocol is public, whatever the target.
public import ArgumentParser
import ChoreoBatch

extension ExportFormat: ExpressibleByArgument {}

struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Export a batch's results.",
        discussion: """
            Writes one record per job, in input order, to stdout or --output:
              openai  OpenAI Batch API output lines {id, custom_id, response, error}:
                      a success has response.status_code 200 and the chat.completion
                      in response.body; an HTTP failure has its status code and error
                      body; a job that was cancelled, expired or never answered has
                      response null and error {code, message}
              jsonl   one object per job with Choreo's columns (output, tokens,
                      attempts, errors, timing)
              csv     RFC 4180, with a header row
              text    custom_id and output, for reading

            Examples:
              choreo results batch_0123456789ab > results.jsonl
              choreo results batch_0123456789ab --format csv --output results.csv
              choreo results batch_0123456789ab --state failed --format jsonl
            """
    )

    @Argument(help: ArgumentHelp("The batch id or name.", valueName: "batch")) var batch: String
    @Option(name: .long, help: "openai, jsonl, csv or text.") var format: ExportFormat = .openai
    @Option(name: .long, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file")) var output: String?
    @Option(name: .long, parsing: .upToNextOption, help: "Only jobs in these states (pending, running, succeeded, failed, cancelled).")
    var state: [String] = []
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        for s in state where !ResultExporter.jobStates.contains(s) {
            throw ValidationError("unknown state \"\(s)\"; use \(ResultExporter.jobStates.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let store = try database.openStore()
        let batchID = try store.batchID(matching: batch)
        let writer = try output.map { try BufferedWriter(path: $0) } ?? .standardOutput()
        let count = try ResultExporter(store: store).export(batch: batchID, format: format, states: state, to: writer)
        try writer.flush()
        if let output { StandardError.print("wrote \(count) jobs to \(output)") }
    }
}
