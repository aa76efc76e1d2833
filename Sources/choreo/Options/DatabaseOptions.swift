import ArgumentParser
import ChoreoBatch
import Foundation

/// `--db PATH`, shared by every command that reads or writes a batch database.
struct DatabaseOptions: ParsableArguments {
    static let environmentVariable = "CHOREO_DB"
    static let defaultPath = "./choreo.sqlite"

    @Option(name: .long, help: ArgumentHelp("The batch database (default: $CHOREO_DB, else ./choreo.sqlite).", valueName: "path"))
    var db: String?

    /// The database file to use: --db, else $CHOREO_DB, else ./choreo.sqlite.
    var path: String {
        if let db, !db.isEmpty { return db }
        if let env = ProcessInfo.processInfo.environment[Self.environmentVariable], !env.isEmpty { return env }
        return Self.defaultPath
    }

    /// Opens the database: read-write (creating and migrating it) or read-only (must exist).
    func open(readOnly: Bool = false) throws -> Database {
        try Database(path: path, readOnly: readOnly)
    }
}
