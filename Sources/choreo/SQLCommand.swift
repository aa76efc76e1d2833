import ArgumentParser
import ChoreoBatch

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run a read-only SQL query against the batch database.",
        discussion: """
            The database is opened read-only (query_only), so a query can never change a batch; a \
            write fails with "choreo sql is read-only" and exit status 1. One statement per call. \
            Useful tables and views: batches, jobs, attempts, rejected_lines, runners, results, batch_summary.

            Examples:
              choreo sql "SELECT state, count(*) FROM jobs GROUP BY state"
              choreo sql "SELECT custom_id, error_kind, error_message FROM jobs WHERE state = 'failed'" --json
              choreo sql "SELECT * FROM batch_summary"
            """
    )

    @Argument(help: ArgumentHelp("One SQL statement.", valueName: "query")) var query: String
    @Flag(name: .long, help: "Print one JSON object per row.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let db = try database.open(readOnly: true)
        let out = BufferedWriter.standardOutput()
        do {
            try QueryOutput.run(db, sql: query, format: json ? .jsonLines : .table, to: out)
            try out.flush()
        } catch {
            try? out.flush()
            StandardError.print("\(error)")
            throw ExitCode(ExitCodes.failure)
        }
    }
}
