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

    /// Opens the SQLite database of the command that reads SQLite only (`index`) and of `submit`: read-only, or read-write (migrating it). Only
    /// `submit` may create it (`creating`); every other command refuses a missing file with
    /// `requireExisting`'s message.
    func open(readOnly: Bool = false, creating: Bool = false) throws -> Database {
        if StoreLocation.isPostgres(path) {
            throw UsageError("this command does not read PostgreSQL databases yet (index reads SQLite only; "
                             + "docs/postgres.md): \(shownLocation)")
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
