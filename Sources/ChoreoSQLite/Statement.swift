internal import CSQLite

/// One prepared statement. Owns its `sqlite3_stmt` for its whole life and finalizes it in `deinit`.
/// `Database` caches statements per SQL text and resets them between uses, so a statement is never
/// shared by two executions at once (the database has one owner at a time).
final class Statement {
    let handle: OpaquePointer
    let sql: String
    private unowned let connection: Database
    /// True while an execution is running (guards the cache against re-entrant use).
    var inUse = false

    /// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(connection: Database, sql: String) throws {
        // The C string of `sql` lives only inside withCString, so the tail is checked in there.
        let (rc, prepared, extra) = sql.withCString { text -> (Int32, OpaquePointer?, Bool) in
            var stmt: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(connection.handle, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, &tail)
            let extra = tail.map { !String(cString: $0).allSatisfy(\.isWhitespace) } ?? false
            return (rc, stmt, extra)
        }
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, connection: connection.handle, sql: sql) }
        guard let stmt = prepared else { throw SQLiteError(code: .misuse, message: "the SQL text holds no statement", sql: sql) }
        if extra {
            sqlite3_finalize(stmt)
            throw SQLiteError(code: .misuse, message: "only one statement is allowed here (use execute for scripts)", sql: sql)
        }
        self.handle = stmt
        self.sql = sql
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    var columnCount: Int32 { sqlite3_column_count(handle) }

    /// Binds `arguments` to `?1…?n`. The statement is fresh or was `finish`ed after its last
    /// execution (`Database.withStatement` does both), so it is already reset and unbound.
    func bind(_ arguments: [SQLValue]) throws {
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard arguments.count == expected else {
            throw SQLiteError(code: .misuse, message: "expected \(expected) arguments, got \(arguments.count)", sql: sql)
        }
        for (offset, value) in arguments.enumerated() {
            let i = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, i)
            case .integer(let v): rc = sqlite3_bind_int64(handle, i, v)
            case .real(let v): rc = sqlite3_bind_double(handle, i, v)
            case .text(var s):
                // withUTF8 avoids a copy for native strings; an empty buffer may have no base
                // address, and a NULL pointer would bind SQL NULL, so bind "" explicitly.
                rc = s.withUTF8 { buf in
                    buf.count == 0
                        ? sqlite3_bind_text(handle, i, "", 0, Self.transient)
                        : sqlite3_bind_text(handle, i, UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(buf.count), Self.transient)
                }
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { buf in
                    sqlite3_bind_blob(handle, i, buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buf.count), Self.transient)
                }
            }
            guard rc == SQLITE_OK else { throw SQLiteError(code: rc, connection: connection.handle, sql: sql) }
        }
    }

    /// Advances one row. Returns false when the statement is done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(code: rc, connection: connection.handle, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Releases locks and the bound values once an execution is over.
    func finish() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}

/// The current row of a running query. Valid only inside the closure that receives it.
public struct Row {
    let statement: Statement
    private var h: OpaquePointer { statement.handle }

    public var columnCount: Int { Int(statement.columnCount) }
    public func name(_ i: Int32) -> String { String(cString: sqlite3_column_name(h, i)) }

    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(h, i) == SQLITE_NULL }
    public func int(_ i: Int32) -> Int? { isNull(i) ? nil : Int(sqlite3_column_int64(h, i)) }
    public func int64(_ i: Int32) -> Int64? { isNull(i) ? nil : sqlite3_column_int64(h, i) }
    public func double(_ i: Int32) -> Double? { isNull(i) ? nil : sqlite3_column_double(h, i) }
    public func bool(_ i: Int32) -> Bool? { int64(i).map { $0 != 0 } }
    public func string(_ i: Int32) -> String? {
        guard let p = sqlite3_column_text(h, i) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(h, i))), as: UTF8.self)
    }
    public func blob(_ i: Int32) -> [UInt8]? {
        guard !isNull(i) else { return nil }
        let count = Int(sqlite3_column_bytes(h, i))
        guard count > 0, let p = sqlite3_column_blob(h, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
    /// The column as whichever storage class SQLite holds it in.
    public func value(_ i: Int32) -> SQLValue {
        switch sqlite3_column_type(h, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(h, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(h, i))
        case SQLITE_TEXT: return .text(string(i) ?? "")
        case SQLITE_BLOB: return .blob(blob(i) ?? [])
        default: return .null
        }
    }
}
