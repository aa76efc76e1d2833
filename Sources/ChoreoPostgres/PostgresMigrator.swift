/// A schema as an ordered list of numbered migrations, recorded in the database's
/// `choreo_schema_migrations` table (one row per version applied, with when). `migrate` applies
/// every migration newer than the newest recorded, all in one transaction, and refuses a database
/// written by a newer schema untouched: the PostgreSQL counterpart of ChoreoSQLite's `Migrator`
/// (which keeps its version in `PRAGMA user_version`).
///
/// Concurrent migrators (two runners starting at once on a new database) queue on a transaction
/// advisory lock: the second one finds the work done.
package struct PostgresMigrator: Sendable {
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

    /// The key of the advisory lock migrators take (any constant: "choreo" in ASCII).
    static let lockKey = 0x63686F72656F

    /// Brings the database up to `currentVersion`, refusing a newer one untouched.
    package func migrate(_ db: PostgresConnection, now: Double) throws {
        try db.transaction {
            try db.run("SELECT pg_advisory_xact_lock($1)", [.init(Self.lockKey)])
            try db.execute("CREATE TABLE IF NOT EXISTS choreo_schema_migrations (version integer PRIMARY KEY, applied_at double precision NOT NULL)")
            let found = try Self.version(db)
            guard found <= currentVersion else {
                throw PostgresSchemaError.newerThanSupported(database: db.url.redacted, found: found, supported: currentVersion)
            }
            for migration in migrations where migration.version > found {
                try db.execute(migration.sql)
                try db.run("INSERT INTO choreo_schema_migrations (version, applied_at) VALUES ($1, $2)",
                           [.init(migration.version), .init(now)])
            }
        }
    }

    /// For readers that must not write: the database must already be at a version this build reads.
    package func checkVersion(_ db: PostgresConnection) throws {
        let exists = try db.queryOne("SELECT to_regclass('choreo_schema_migrations') IS NOT NULL") { $0.bool(0) } ?? false
        let found = exists == true ? try Self.version(db) : 0
        if found > currentVersion {
            throw PostgresSchemaError.newerThanSupported(database: db.url.redacted, found: found, supported: currentVersion)
        }
        if found < currentVersion { throw PostgresSchemaError.notMigrated(database: db.url.redacted, found: found) }
    }

    /// The newest version recorded (0 for a database with none).
    package static func version(_ db: PostgresConnection) throws -> Int {
        try db.queryOne("SELECT coalesce(max(version), 0) FROM choreo_schema_migrations") { $0.int(0) ?? 0 } ?? 0
    }
}

/// The database's schema version does not match what this build can use.
public enum PostgresSchemaError: Error, Sendable, CustomStringConvertible {
    case newerThanSupported(database: String, found: Int, supported: Int)
    case notMigrated(database: String, found: Int)

    public var description: String {
        switch self {
        case .newerThanSupported(let database, let found, let supported):
            return "database \(database) has schema version \(found), but this choreo only knows versions up to \(supported); "
                + "upgrade choreo to use it (the database was not changed)"
        case .notMigrated(let database, let found):
            return found == 0
                ? "\(database) is not a Choreo database yet (schema version 0); submit a batch to create it"
                : "database \(database) has the older schema version \(found); open it with a writing command (submit, run) to upgrade it"
        }
    }
}
