/// A SQLSTATE code (https://www.postgresql.org/docs/current/errcodes-appendix.html): five
/// characters whose first two name the class (`23` integrity constraint, `08` connection).
public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The class: the first two characters (`23505` → `23`).
    public var errorClass: String { String(rawValue.prefix(2)) }

    public static let uniqueViolation = SQLState(rawValue: "23505")
    public static let checkViolation = SQLState(rawValue: "23514")
    public static let serializationFailure = SQLState(rawValue: "40001")
    public static let deadlockDetected = SQLState(rawValue: "40P01")
    public static let readOnlySQLTransaction = SQLState(rawValue: "25006")
    public static let queryCanceled = SQLState(rawValue: "57014")
    public static let undefinedTable = SQLState(rawValue: "42P01")
    public static let invalidCatalogName = SQLState(rawValue: "3D000")
    public static let featureNotSupported = SQLState(rawValue: "0A000")
    /// What this module reports when libpq lost or could not make the connection (the server sent
    /// no SQLSTATE then): `connection_failure`.
    public static let connectionFailure = SQLState(rawValue: "08006")
    /// This module refused the call before sending it (a misuse: wrong argument, text with NUL).
    public static let invalidParameterValue = SQLState(rawValue: "22023")

    public var description: String { rawValue }
}

/// An error from PostgreSQL or libpq: the SQLSTATE, the server's message (with its detail and hint
/// when it sent them) and the SQL that failed. Never the arguments: they may hold anything users
/// sent to a model (GRDB leaves them out of its descriptions for the same reason), and never the
/// password (messages are scrubbed with the URL's `scrub`).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public let code: SQLState
    public let message: String
    public let detail: String?
    public let hint: String?
    public let sql: String?

    public init(code: SQLState, message: String, detail: String? = nil, hint: String? = nil, sql: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.sql = sql
    }

    /// The connection is gone or could not be made (SQLSTATE class 08, or the server shutting
    /// down, 57P01–57P03): a new connection may work.
    public var isConnectionFailure: Bool { code.errorClass == "08" || ["57P01", "57P02", "57P03"].contains(code.rawValue) }
    /// The transaction lost a race with another one (a deadlock, a serialization failure): running
    /// it again is the documented remedy.
    public var isTransient: Bool { code == .deadlockDetected || code == .serializationFailure }
    /// A write refused in a read-only transaction.
    public var isReadOnlyViolation: Bool { code == .readOnlySQLTransaction }

    public var description: String {
        var s = "PostgreSQL error \(code.rawValue): \(message)"
        if let detail { s += " (\(detail))" }
        if let hint { s += "; hint: \(hint)" }
        if let sql { s += " — in `\(sql.count > 200 ? String(sql.prefix(200)) + "…" : sql)`" }
        return s
    }
}
