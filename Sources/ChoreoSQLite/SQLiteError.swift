internal import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A SQLite result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, …) as a small value type.
public struct ResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The primary code, without the extended bits (`SQLITE_CONSTRAINT_UNIQUE` → `SQLITE_CONSTRAINT`).
    public var primary: ResultCode { ResultCode(rawValue: rawValue & 0xFF) }

    public static let ok = ResultCode(rawValue: SQLITE_OK)
    public static let error = ResultCode(rawValue: SQLITE_ERROR)
    public static let busy = ResultCode(rawValue: SQLITE_BUSY)
    public static let readOnly = ResultCode(rawValue: SQLITE_READONLY)
    public static let cantOpen = ResultCode(rawValue: SQLITE_CANTOPEN)
    public static let constraint = ResultCode(rawValue: SQLITE_CONSTRAINT)
    public static let misuse = ResultCode(rawValue: SQLITE_MISUSE)
    public static let auth = ResultCode(rawValue: SQLITE_AUTH)
    public static let interrupt = ResultCode(rawValue: SQLITE_INTERRUPT)
    public static let full = ResultCode(rawValue: SQLITE_FULL)
    public static let ioError = ResultCode(rawValue: SQLITE_IOERR)
    public static let notADatabase = ResultCode(rawValue: SQLITE_NOTADB)
    /// The database's folder is not writable: its `-wal` and `-shm` files cannot be made there.
    public static let readOnlyDirectory = ResultCode(rawValue: SQLITE_READONLY | (6 << 8))  // SQLITE_READONLY_DIRECTORY

    public var description: String { String(cString: sqlite3_errstr(rawValue)) + " (\(rawValue))" }
}

/// An error from SQLite: the result code, SQLite's own message and the SQL that failed.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String
    public let sql: String?
    /// The `errno` of the system call that failed under an I/O error (ENOSPC, EFBIG, EIO…); 0 when none.
    public let systemErrno: Int32

    public init(code: ResultCode, message: String, sql: String? = nil, systemErrno: Int32 = 0) {
        self.code = code
        self.message = message
        self.sql = sql
        self.systemErrno = systemErrno
    }

    /// Captures the connection's current error message (and errno) for `code`.
    init(code: Int32, connection: OpaquePointer?, sql: String?) {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        self.init(code: ResultCode(rawValue: code), message: message, sql: sql, systemErrno: connection.map { sqlite3_system_errno($0) } ?? 0)
    }

    /// True when another connection held the lock past the busy timeout: trying again later can work.
    public var isBusy: Bool { code.primary == .busy }

    /// True when the write was refused because the connection is read-only (`choreo sql`): by
    /// the read-only authorizer while compiling (`SQLITE_AUTH`; when the denial comes up while
    /// SQLite prepares a schema, it reports another code with the authorizer's message), or by
    /// SQLite while writing.
    public var isReadOnlyViolation: Bool {
        code.primary == .readOnly || code.primary == .auth || message == "not authorized"
    }
    /// True when the storage refused a write: the disk is full or a file-size limit was reached
    /// (`SQLITE_FULL`), or the file system failed (`SQLITE_IOERR`). Trying again can work once
    /// space is freed (RELIABILITY.md, "Storage faults").
    public var isStorageFault: Bool { code.primary == .full || code.primary == .ioError }
    /// A storage fault that is a lack of space: SQLITE_FULL, or an I/O error from ENOSPC, EFBIG
    /// (RLIMIT_FSIZE) or EDQUOT.
    public var isDiskFull: Bool {
        code.primary == .full || (code.primary == .ioError && [ENOSPC, EFBIG, EDQUOT].contains(systemErrno))
    }

    /// True when the statement was stopped by a running-time limit (`Database.limitRunningTime`).
    public var isInterrupted: Bool { code.primary == .interrupt }

    public var description: String {
        var s = "SQLite error \(code.rawValue): \(message)"
        if systemErrno != 0 && isStorageFault { s += " (\(String(cString: strerror(systemErrno))))" }
        if let sql { s += " — in `\(sql.count > 200 ? String(sql.prefix(200)) + "…" : sql)`" }
        return s
    }
}
