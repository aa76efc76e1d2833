public import ChoreoPostgres
import ChoreoSQLite

/// Where a choreo database lives, from what the user gave as `--db` (or `CHOREO_DB`): a SQLite
/// file's path, or a PostgreSQL URL (`postgres://` or `postgresql://`, as libpq reads it). The one
/// place that tells the two apart; `description` never shows a password.
public enum StoreLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL)

    public init(_ text: String) throws {
        if Self.isPostgres(text) {
            self = .postgres(try PostgresURL(text))
        } else {
            self = .sqlite(path: text)
        }
    }

    /// Whether `text` names a PostgreSQL database rather than a file.
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let url): return url.redacted
        }
    }

    /// The store the commands that read and manage batches use there (`status`, `results`,
    /// `show`, `sql`, `cancel`, `resume`). A SQLite file is opened read-only unless `forWriting`
    /// (then migrated, as every writer does), and must exist: the caller says so first. A
    /// PostgreSQL database must have this build's schema already; a command changes what it
    /// changes in transactions of its own, and `sql` reads in a read-only one either way.
    public func openBatchStore(forWriting: Bool = false) throws -> any BatchStore {
        switch self {
        case .sqlite(let path): return SQLiteBatchStore(try Database(path: path, readOnly: !forWriting))
        case .postgres(let url): return try PostgresBatchStore(url: url)
        }
    }

    /// The store a runner uses there. A SQLite store reports its group commits and storage faults
    /// to `storage`; a PostgreSQL one retries its own writes.
    func openStore(runnerID: String, busyTimeout: Double, leaseSeconds: Double, storage: StorageHealth) throws -> any JobStore {
        switch self {
        case .sqlite(let path): return try JobQueue(path: path, runnerID: runnerID, busyTimeout: busyTimeout, storage: storage)
        case .postgres(let url): return try PostgresJobStore(url: url, runnerID: runnerID, leaseSeconds: leaseSeconds)
        }
    }
}
