import CSQLite

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

    public var description: String { String(cString: sqlite3_errstr(rawValue)) + " (\(rawValue))" }
}

/// An error from SQLite: the result code, SQLite's own message and the SQL that failed.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String
    public let sql: String?

    public init(code: ResultCode, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// Captures the connection's current error message for `code`.
    init(code: Int32, connection: OpaquePointer?, sql: String?) {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        self.init(code: ResultCode(rawValue: code), message: message, sql: sql)
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
    /// True when the statement was stopped by a running-time limit (`Database.limitRunningTime`).
    public var isInterrupted: Bool { code.primary == .interrupt }

    public var description: String {
        var s = "SQLite error \(code.rawValue): \(message)"
        if let sql { s += " — in `\(sql.count > 200 ? String(sql.prefix(200)) + "…" : sql)`" }
        return s
    }
}
