/// A schema as an ordered list of numbered migrations. The version lives in `PRAGMA user_version`;
/// `migrate` applies every migration newer than it, all in one transaction, so a database is
/// always at exactly one known version, and refuses a database written by a newer schema
/// untouched (GRDB's `DatabaseMigrator` and its `hasBeenSuperseded` are the model).
///
/// The migrations themselves are the owner's (Choreo's are in ChoreoBatch's `Schema`).
package struct Migrator: Sendable {
    package struct Migration: Sendable {
        package let version: Int
        package let sql: String

        package init(version: Int, sql: String) {
            self.version = version
            self.sql = sql
        }
    }

    package let migrations: [Migration]

    /// `migrations` in the order they apply: versions 1, 2, 3… without gaps.
    package init(_ migrations: [Migration]) {
        precondition(!migrations.isEmpty && migrations.enumerated().allSatisfy { $0.element.version == $0.offset + 1 },
                     "migrations are numbered 1, 2, 3… in order")
        self.migrations = migrations
    }

    /// The newest schema version this build knows.
    package var currentVersion: Int { migrations.last!.version }

    /// Brings a writable database up to `currentVersion`, refusing a newer one untouched.
    package func migrate(_ db: Database) throws {
        if try Self.userVersion(db) == currentVersion { return }
        try db.transaction(.immediate) {
            // Re-read under the write lock: another process may have migrated meanwhile.
            let found = try Self.userVersion(db)
            guard found <= currentVersion else { throw SchemaError.newerThanSupported(path: db.path, found: found, supported: currentVersion) }
            for migration in migrations where migration.version > found { try db.execute(migration.sql) }
            if found < currentVersion {
                try db.execute("PRAGMA user_version = \(currentVersion)")
                // A migration that edits `sqlite_schema` itself (Choreo's version 4) is seen by a
                // connection only when the schema cookie moves: SQLite's documented procedure
                // increments it.
                let cookie = try db.queryOne("PRAGMA schema_version") { $0.int(0) ?? 0 } ?? 0
                try db.execute("PRAGMA schema_version = \(cookie + 1)")
            }
        }
    }

    /// For read-only connections: the database must already be at a version this build reads.
    package func checkVersion(_ db: Database) throws {
        let found = try Self.userVersion(db)
        if found > currentVersion { throw SchemaError.newerThanSupported(path: db.path, found: found, supported: currentVersion) }
        if found < currentVersion { throw SchemaError.notMigrated(path: db.path, found: found) }
    }

    /// The schema version recorded in the database (0 for a new, empty one).
    package static func userVersion(_ db: Database) throws -> Int {
        try db.queryOne("PRAGMA user_version") { $0.int(0) ?? 0 } ?? 0
    }
}

/// The database's schema version does not match what this build can use.
public enum SchemaError: Error, Sendable, CustomStringConvertible {
    case newerThanSupported(path: String, found: Int, supported: Int)
    case notMigrated(path: String, found: Int)

    public var description: String {
        switch self {
        case .newerThanSupported(let path, let found, let supported):
            return "database \(path) has schema version \(found), but this choreo only knows versions up to \(supported); "
                + "upgrade choreo to use it (the database was not changed)"
        case .notMigrated(let path, let found):
            return found == 0
                ? "\(path) is not a Choreo database yet (schema version 0); submit a batch to create it"
                : "database \(path) has the older schema version \(found); open it with a writing command (submit, run) to upgrade it"
        }
    }
}
