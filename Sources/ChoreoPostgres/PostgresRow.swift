internal import CLibPQ

/// A query's result as libpq holds it. Owns its `PGresult` and clears it in `deinit`.
final class PostgresResult {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var rowCount: Int32 { PQntuples(handle) }
    var columnCount: Int32 { PQnfields(handle) }
    /// Rows an INSERT, UPDATE or DELETE changed (0 for other commands).
    var changes: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }
}

/// One row of a query's result, in text format. Valid only inside the closure that receives it.
/// Columns are numbered from 0, as in ChoreoSQLite's `Row`.
public struct PostgresRow {
    let result: PostgresResult
    let row: Int32

    public var columnCount: Int { Int(result.columnCount) }
    public func name(_ i: Int32) -> String { String(cString: PQfname(result.handle, i)) }

    public func isNull(_ i: Int32) -> Bool { PQgetisnull(result.handle, row, i) == 1 }
    /// The column's text, read with its length (a `String(cString:)` would stop at a NUL).
    public func string(_ i: Int32) -> String? {
        guard !isNull(i), let p = PQgetvalue(result.handle, row, i) else { return nil }
        let count = Int(PQgetlength(result.handle, row, i))
        return p.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }
    public func int64(_ i: Int32) -> Int64? { string(i).flatMap { Int64($0) } }
    public func int(_ i: Int32) -> Int? { string(i).flatMap { Int($0) } }
    /// `float8` text (`1.5`, `1e-05`, `Infinity`, `NaN`); integers and numerics read as well.
    public func double(_ i: Int32) -> Double? { string(i).flatMap { Double($0) } }
    /// `boolean` (`t`/`f`) or an integer flag (`1`/`0`).
    public func bool(_ i: Int32) -> Bool? {
        switch string(i) {
        case nil: return nil
        case "t", "true", "1": return true
        default: return false
        }
    }
}
