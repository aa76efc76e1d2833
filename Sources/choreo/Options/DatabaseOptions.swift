import ArgumentParser
import ChoreoBatch
import Foundation
import ChoreoSQLite
import ChoreoPostgres

/// `--db PATH`, shared by every command that reads or writes a batch database.
struct DatabaseOptions: ParsableArguments {
    static let environmentVariable = "CHOREO_DB"
    static let defaultPath = "./choreo.sqlite"

    @Option(name: .long, help: ArgumentHelp("The batch database: a SQLite file, or a postgres:// URL (docs/postgres.md; not for index, estimate or cache). Default: $CHOREO_DB, else ./choreo.sqlite.", valueName: "path|url"))
    var db: String?

    /// The database file to use: --db, else $CHOREO_DB, else ./choreo.sqlite.
    var path: String {
        if let db, !db.isEmpty { return db }
        if let env = ProcessInfo.processInfo.environment[Self.environmentVariable], !env.isEmpty { return env }
        return Self.defaultPath
    }

    /// Where the database is, as messages show it: a PostgreSQL URL without its password.
    var shownLocation: String { (try? StoreLocation(path).description) ?? "the --db URL" }

    /// The store of the commands that read and manage batches, on either backend: a SQLite file
    /// (read-only unless `forWriting`) must exist, and a PostgreSQL database must be a Choreo one
    /// already (both are usage errors otherwise: only `submit` creates a database).
    func openStore(forWriting: Bool = false) throws -> any BatchStore {
        let location = try StoreLocation(path)
        if case .sqlite(let file) = location { try Self.requireExisting(file) }
        do {
            return try location.openBatchStore(forWriting: forWriting)
        } catch let error as PostgresSchemaError {
            guard case .notMigrated = error else { throw error }
            throw UsageError(error.description)
        }
    }

    /// Opens the SQLite database of `submit` (which has a submitter per backend): read-only, or
    /// read-write (migrating it), created when `creating`, else a missing file is refused with
    /// `requireExisting`'s message. Never a file named like a PostgreSQL URL.
    func open(readOnly: Bool = false, creating: Bool = false) throws -> Database {
        if StoreLocation.isPostgres(path) {
            throw UsageError("this needs a SQLite database, not \(shownLocation)")
        }
        if !creating { try Self.requireExisting(path) }
        return try Database(path: path, readOnly: readOnly)
    }

    /// A mistyped --db must not quietly create an empty database (opening for writing would) or
    /// answer with SQLite's "unable to open database file": only `submit` creates one.
    static func requireExisting(_ path: String) throws {
        guard StoreLocation.isPostgres(path) || FileManager.default.fileExists(atPath: path) else {
            throw UsageError("no database at \(path); submit a batch first")
        }
    }
}
