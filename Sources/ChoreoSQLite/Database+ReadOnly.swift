internal import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a read-only connection may do, as a rule SQLite checks while it compiles each statement
/// (`sqlite3_set_authorizer`), rather than a flag that refuses a write only when it happens:
/// `VACUUM INTO 'file'` and `ATTACH 'file'` are refused before SQLite opens (and creates) the
/// file, and a `PRAGMA` that would change a setting (`query_only = OFF`) never runs.
enum ReadOnlyAuthorizer {
    /// Pragmas whose argument names what to read (a table, an index, a schema).
    static let inspectingPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check",
    ]
    /// Pragmas that read a setting when called without a value (`PRAGMA user_version`) and would
    /// change it with one.
    static let settingPragmas: Set<String> = [
        "user_version", "schema_version", "application_id", "data_version", "page_size", "page_count", "freelist_count",
        "journal_mode", "encoding", "auto_vacuum", "query_only", "foreign_keys", "synchronous", "cache_size",
        "busy_timeout", "database_list", "collation_list", "function_list", "module_list", "pragma_list",
        "compile_options",
    ]

    /// The decision for one action: `SQLITE_OK` to allow it, `SQLITE_DENY` to fail the statement.
    static func decide(_ action: Int32, _ first: UnsafePointer<CChar>?, _ second: UnsafePointer<CChar>?) -> Int32 {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_FUNCTION, SQLITE_RECURSIVE, SQLITE_TRANSACTION:
            return SQLITE_OK
        case SQLITE_UPDATE where first.map({ String(cString: $0) }) == "sqlite_master":
            // What SQLite asks while a virtual table (the opt-in full-text index, outputs_fts)
            // declares its columns on connecting; no statement can write on this read-only
            // connection, and a user's UPDATE of the schema table needs a pragma refused below.
            return SQLITE_OK
        case SQLITE_PRAGMA:
            let name = first.map { String(cString: $0).lowercased() } ?? ""
            if inspectingPragmas.contains(name) || (second == nil && settingPragmas.contains(name)) { return SQLITE_OK }
            return SQLITE_DENY
        default:
            // Writes, CREATE / DROP / ALTER (temporary objects too), ATTACH (and so VACUUM INTO),
            // DETACH, ANALYZE, REINDEX, savepoints.
            return SQLITE_DENY
        }
    }
}

extension Database {
    /// Makes this connection refuse everything but reading (see `ReadOnlyAuthorizer`).
    func authorizeReadsOnly() {
        sqlite3_set_authorizer(handle, { _, action, first, second, _, _ in
            ReadOnlyAuthorizer.decide(action, first, second)
        }, nil)
    }

    /// Stops any statement of this connection still running `seconds` from now: its step fails with
    /// `SQLITE_INTERRUPT` (see `SQLiteError.isInterrupted`). nil removes the limit. SQLite calls
    /// the check every few thousand virtual-machine instructions, so a runaway query (a recursive
    /// CTE without end) stops within milliseconds of the deadline.
    public func limitRunningTime(to seconds: Double?) {
        guard let seconds else {
            sqlite3_progress_handler(handle, 0, nil, nil)
            return
        }
        // The deadline travels in the context pointer itself: nothing to allocate or keep alive.
        let deadline = Self.monotonicNanoseconds() &+ UInt64(max(0, min(seconds, 1e9)) * 1e9)
        sqlite3_progress_handler(handle, 4096, { context in
            Database.monotonicNanoseconds() >= UInt64(UInt(bitPattern: context)) ? 1 : 0
        }, UnsafeMutableRawPointer(bitPattern: UInt(deadline)))
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
