import ArgumentParser
import ChoreoBatch

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Turn the full-text index over job outputs on or off.",
        discussion: """
            `on` builds an SQLite FTS5 index (the table outputs_fts) over every job's output and keeps \
            it up to date as runs write outputs; `off` drops it (outputs are untouched). Off by default: \
            with it on, each output is written twice. Query it with `choreo sql` or Datasette \
            (docs/schema.md). On PostgreSQL it is a GIN index named outputs_fts over \
            to_tsvector('simple', coalesce(output, '')), which queries spelling that expression use.

            Examples:
              choreo index on
              choreo sql "SELECT j.custom_id FROM outputs_fts f
                JOIN jobs j ON j.id = f.rowid WHERE outputs_fts MATCH 'phobos'"
              choreo sql --db postgres://… "SELECT custom_id FROM jobs
                WHERE to_tsvector('simple', coalesce(output, ''))
                  @@ plainto_tsquery('simple', 'phobos')"
              choreo index off
            """
    )

    enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }

    @Argument(help: "on or off.") var state: Switch
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let how = try database.openStore(forWriting: true).setOutputIndex(state == .on)
        StandardError.print("full-text index over outputs \(how)")
    }
}
