import ArgumentParser
import ChoreoAI
import ChoreoBatch

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run a read-only SQL query against the batch database.",
        discussion: """
            The database is opened read-only: SQLite is told to allow nothing but reading, so a \
            query can never change a batch or create a file (writes, ATTACH, VACUUM INTO and pragmas \
            that change a setting fail with "choreo sql only reads" and exit status 1). On PostgreSQL \
            (--db postgres://…) the query runs in a READ ONLY transaction that is rolled back, with \
            the same message for a write, and in PostgreSQL's SQL dialect. A query is \
            stopped after 30 seconds (exit status 1); --timeout gives it more (or less). One statement per call. \
            Useful tables and views: batches, jobs, attempts, rejected_lines, runners, results, batch_summary.

            Examples:
              choreo sql "SELECT state, count(*) FROM jobs GROUP BY state"
              choreo sql --json "SELECT custom_id, error_kind FROM results
                WHERE state = 'failed'"
              choreo sql "SELECT * FROM batch_summary"
            """
    )

    @Argument(help: ArgumentHelp("One SQL statement.", valueName: "query")) var query: String
    @Flag(name: .long, help: "Print one JSON object per row.") var json = false
    @Option(name: .long, help: ArgumentHelp("Stop the query after this long: a duration (500ms, 30s, 5m) or seconds.", valueName: "duration"))
    var timeout: String = "\(Int(QueryOutput.defaultTimeLimit))s"
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard let seconds = RetryHints.duration(timeout), seconds > 0 else {
            throw ValidationError("--timeout must be a positive duration (500ms, 30s, 5m), found \"\(timeout)\"")
        }
    }

    func run() async throws {
        let timeLimit = RetryHints.duration(timeout) ?? QueryOutput.defaultTimeLimit
        let store = try database.openStore()
        let out = BufferedWriter.standardOutput()
        do {
            try QueryOutput.run(store, sql: query, format: json ? .jsonLines : .table, timeLimit: timeLimit, to: out)
            try out.flush()
        } catch {
            try? out.flush()
            Choreo.fail("\(error)", code: ExitCodes.failure)
        }
    }
}
