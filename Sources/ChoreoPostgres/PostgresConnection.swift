internal import CLibPQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to a PostgreSQL server through libpq. Owns its `PGconn` and closes it in `deinit`.
///
/// Not `Sendable`, like ChoreoSQLite's `Database`: a connection has exactly one owner at a time
/// (an actor, or one command), and libpq allows a connection to move between threads as long as
/// two never use it at once (https://www.postgresql.org/docs/current/libpq-threading.html).
/// Every call blocks its thread for one round trip to the server or more.
///
/// Statements go out with `PQexecParams` in text format: one statement per call, arguments
/// never spliced into the SQL. Scripts without arguments (migrations) go through `execute`.
/// A statement run with `prepared: true` is parsed and planned by the server once per connection
/// (`PQprepare`, named after its place in `preparedNames`) and then only executed
/// (`PQexecPrepared`): for the statements a runner repeats all the time.
public final class PostgresConnection {
    let handle: OpaquePointer
    /// The URL it connected to (`description` is redacted).
    public let url: PostgresURL
    private var transactionDepth = 0
    /// The statements prepared on this connection, by SQL text, with their server-side names.
    /// A new session (`reconnect`) has none.
    private var preparedNames: [String: String] = [:]

    /// Connects to `url`. libpq also reads `PGPASSWORD`, `~/.pgpass`, `PGSSLMODE` and the other
    /// `PG*` variables for what the URL leaves out. Gives up after `connectTimeout` seconds
    /// unless the URL says otherwise (`connect_timeout=`). `serverSettings` are the session's
    /// settings on the server (`SET` for the whole session, and again after `reconnect`), unless
    /// the URL's `options=` says otherwise.
    public init(url: PostgresURL, connectTimeout: Int = 10, serverSettings: [String: String] = [:]) throws {
        self.url = url
        // Keywords before `dbname` can be overridden by the URL's own settings, those after it
        // cannot (libpq's rule for `expand_dbname`): the text is always UTF-8.
        var settings: [(String, String)] = [("connect_timeout", String(connectTimeout)), ("fallback_application_name", "choreo")]
        if !serverSettings.isEmpty {
            settings.append(("options", serverSettings.sorted { $0.key < $1.key }.map { "-c \($0.key)=\($0.value)" }.joined(separator: " ")))
        }
        settings += [("dbname", url.string), ("client_encoding", "UTF8")]
        let keywords = settings.map { strdup($0.0) }, values = settings.map { strdup($0.1) }
        defer { (keywords + values).forEach { free($0) } }
        let connection = (keywords.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { k in
            (values.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        // libpq returns a PGconn even when the connection failed; it must be freed all the same.
        guard let connection else { throw PostgresError(code: .connectionFailure, message: "libpq could not allocate a connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = url.scrub(Self.trimmed(PQerrorMessage(connection)))
            PQfinish(connection)
            throw PostgresError(code: .connectionFailure, message: "cannot connect to \(url.redacted): \(message)")
        }
        handle = connection
        // The server's notices (`CREATE … IF NOT EXISTS` skipping, say) are not errors; libpq
        // prints them on stderr unless a processor takes them.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// False once the connection broke (the server went away, the network failed): every call
    /// fails until `reconnect` succeeds.
    public var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Opens the connection again with the same settings (`PQreset`); a transaction that was open
    /// is gone.
    public func reconnect() throws {
        PQreset(handle)
        transactionDepth = 0
        preparedNames = [:]
        guard isConnected else {
            throw PostgresError(code: .connectionFailure,
                                message: "cannot reconnect to \(url.redacted): \(url.scrub(Self.trimmed(PQerrorMessage(handle))))")
        }
    }

    /// The server's version as a number (`150018` for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Runs one or more `;`-separated statements that take no arguments (DDL, migrations).
    public func execute(_ sql: String) throws {
        _ = try check(PQexec(handle, sql), sql: sql)
    }

    /// Runs one statement and returns how many rows it changed (INSERT, UPDATE, DELETE).
    /// `prepared`: see the type's notes.
    @discardableResult
    public func run(_ sql: String, _ arguments: [PostgresValue] = [], prepared: Bool = false) throws -> Int {
        try exec(sql, arguments, prepared: prepared).changes
    }

    /// Runs a query and calls `body` once per row. The whole result is in memory (libpq reads it
    /// before returning): keep queries bounded with `LIMIT`, as the store does.
    public func query(_ sql: String, _ arguments: [PostgresValue] = [], prepared: Bool = false,
                      _ body: (PostgresRow) throws -> Void) throws {
        let result = try exec(sql, arguments, prepared: prepared)
        for i in 0..<result.rowCount { try body(PostgresRow(result: result, row: i)) }
    }

    /// The first row of a query mapped by `map`, or nil when there is none.
    public func queryOne<T>(_ sql: String, _ arguments: [PostgresValue] = [], prepared: Bool = false,
                            _ map: (PostgresRow) throws -> T) throws -> T? {
        let result = try exec(sql, arguments, prepared: prepared)
        return result.rowCount > 0 ? try map(PostgresRow(result: result, row: 0)) : nil
    }

    /// How many statements this session has prepared (tests).
    public var preparedCount: Int { preparedNames.count }

    /// How a transaction begins.
    public enum TransactionKind: String, Sendable {
        case readWrite = "BEGIN"
        /// Refuses every write (`choreo sql`): SQLSTATE 25006.
        case readOnly = "BEGIN READ ONLY"
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    /// Nested calls become savepoints of the outer transaction.
    public func transaction<T>(_ kind: TransactionKind = .readWrite, _ body: () throws -> T) throws -> T {
        let nested = transactionDepth > 0
        let name = "choreo_sp\(transactionDepth)"
        try execute(nested ? "SAVEPOINT \(name)" : kind.rawValue)
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body()
            try execute(nested ? "RELEASE SAVEPOINT \(name)" : "COMMIT")
            return result
        } catch {
            if isConnected {
                if nested {
                    try? execute("ROLLBACK TO SAVEPOINT \(name)")
                    try? execute("RELEASE SAVEPOINT \(name)")
                } else if PQtransactionStatus(handle) != PQTRANS_IDLE {
                    try? execute("ROLLBACK")
                }
            }
            throw error
        }
    }

    /// True while a transaction is open on this connection.
    public var isInTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    // MARK: libpq calls

    private func exec(_ sql: String, _ arguments: [PostgresValue], prepared: Bool = false) throws -> PostgresResult {
        guard prepared else {
            let result = try withCStrings(arguments, sql: sql) { values in
                PQexecParams(handle, sql, Int32(arguments.count), nil, values, nil, nil, 0)
            }
            return try check(result, sql: sql)
        }
        let name: String
        if let known = preparedNames[sql] {
            name = known
        } else {
            // The server infers the parameters' types, as for `PQexecParams`. A prepared statement
            // is the session's, not the transaction's: a rollback keeps it.
            name = "choreo_\(preparedNames.count + 1)"
            _ = try check(PQprepare(handle, name, sql, 0, nil), sql: sql)
            preparedNames[sql] = name
        }
        let result = try withCStrings(arguments, sql: sql) { values in
            PQexecPrepared(handle, name, Int32(arguments.count), values, nil, nil, 0)
        }
        return try check(result, sql: sql)
    }

    /// The arguments as the C strings libpq reads, alive for the duration of `body`.
    private func withCStrings<T>(_ arguments: [PostgresValue], sql: String,
                                 _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) throws -> T {
        // libpq reads each argument as a C string: a NUL inside would silently cut the text there.
        // PostgreSQL's `text` cannot hold NUL at all, so such a value is refused, never truncated.
        if arguments.contains(where: { $0.text?.utf8.contains(0) == true }) {
            throw PostgresError(code: .invalidParameterValue,
                                message: "an argument holds a NUL character, which PostgreSQL text cannot store", sql: sql)
        }
        let texts = arguments.map { $0.text.map { strdup($0) } ?? nil }
        defer { texts.forEach { free($0) } }
        let raw = texts.map { UnsafePointer($0) }
        return raw.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// Runs one query and calls `body` once per row as the rows arrive from the server (libpq's
    /// single-row mode, https://www.postgresql.org/docs/current/libpq-single-row-mode.html): one
    /// row is held in memory at a time, whatever the size of the result, which is what `query`
    /// cannot promise. For results of unknown size: an export, a user's query.
    ///
    /// One statement only (the extended protocol refuses several). When `body` throws, the
    /// query is cancelled on the server and its remaining results are read and dropped, so the
    /// connection is usable again; the error is rethrown. An error the server sends part-way
    /// (after some rows were given to `body`) is thrown as `query`'s would be.
    public func stream(_ sql: String, _ arguments: [PostgresValue] = [], _ body: (PostgresRow) throws -> Void) throws {
        let sent = try withCStrings(arguments, sql: sql) { values in
            PQsendQueryParams(handle, sql, Int32(arguments.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else {
            throw PostgresError(code: isConnected ? SQLState(rawValue: "XX000") : .connectionFailure,
                                message: url.scrub(Self.trimmed(PQerrorMessage(handle))), sql: sql)
        }
        // Must follow the send at once, before any result is read.
        _ = PQsetSingleRowMode(handle)
        var failure: (any Error)?
        // Every result is read, to the NULL that ends the query, whatever happened on the way.
        while let raw = PQgetResult(handle) {
            let status = PQresultStatus(raw)
            if status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH {
                // A `COPY … TO STDOUT` (or FROM STDIN): its data is no result, and libpq hands back
                // the COPY state on every call until the copy ends, so it is ended here.
                PQclear(raw)
                endCopy(status)
                failure = failure ?? PostgresError(code: .featureNotSupported,
                                                   message: "COPY with STDIN or STDOUT is not supported here; read the rows with a SELECT",
                                                   sql: sql)
                continue
            }
            guard failure == nil else {
                PQclear(raw)
                continue
            }
            if status == PGRES_SINGLE_TUPLE {
                let result = PostgresResult(raw)
                do {
                    try body(PostgresRow(result: result, row: 0))
                } catch {
                    failure = error
                    cancelRunningQuery()
                }
            } else {
                // The final, empty TUPLES_OK (or COMMAND_OK for a statement without rows), or an error.
                do { _ = try check(raw, sql: sql) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Ends a COPY the server started: the data it sends is read and dropped, and one that waits
    /// for data is told it failed (`PQputCopyEnd` with a message), so the query's final result
    /// follows (https://www.postgresql.org/docs/current/libpq-copy.html).
    private func endCopy(_ status: ExecStatusType) {
        if status == PGRES_COPY_IN {
            _ = PQputCopyEnd(handle, "COPY FROM STDIN is not supported here")
            return
        }
        var buffer: UnsafeMutablePointer<CChar>?
        // > 0: a row of data; -1: the copy is done; -2: an error (the next result says which).
        while PQgetCopyData(handle, &buffer, 0) > 0 {
            PQfreemem(buffer)
            buffer = nil
        }
    }

    /// Asks the server to stop the statement this connection is running (`PQcancel`). Best
    /// effort: the statement may have ended already.
    private func cancelRunningQuery() {
        guard let cancel = PQgetCancel(handle) else { return }
        defer { PQfreeCancel(cancel) }
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &message, Int32(message.count))
    }

    /// Every result goes through here: a failed command becomes a `PostgresError` with its
    /// SQLSTATE, a success is handed back (and freed with its owner).
    private func check(_ raw: OpaquePointer?, sql: String) throws -> PostgresResult {
        guard let raw else {
            // Out of memory, or the connection is gone: libpq has no result to give.
            throw PostgresError(code: .connectionFailure, message: url.scrub(Self.trimmed(PQerrorMessage(handle))), sql: sql)
        }
        let result = PostgresResult(raw)
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            func field(_ code: Int32) -> String? { PQresultErrorField(raw, code).map { url.scrub(String(cString: $0)) } }
            let state = field(Int32(UInt8(ascii: "C"))).map(SQLState.init(rawValue:))  // PG_DIAG_SQLSTATE
            // No SQLSTATE: libpq itself failed, and the connection is the usual reason.
            let code = state ?? (isConnected ? SQLState(rawValue: "XX000") : .connectionFailure)
            let message = field(Int32(UInt8(ascii: "M"))) ?? url.scrub(Self.trimmed(PQresultErrorMessage(raw)))  // PG_DIAG_MESSAGE_PRIMARY
            throw PostgresError(code: code, message: message, detail: field(Int32(UInt8(ascii: "D"))),  // PG_DIAG_MESSAGE_DETAIL
                                hint: field(Int32(UInt8(ascii: "H"))), sql: sql)  // PG_DIAG_MESSAGE_HINT
        }
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        let text = String(cString: message)
        return String(text.reversed().drop { $0.isWhitespace }.reversed())
    }
}
