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

    /// The column's type, as the OID of its `pg_type` row (`20` for `bigint`; `PostgresType`).
    public func type(_ i: Int32) -> PostgresType { PostgresType(rawValue: UInt32(PQftype(result.handle, i))) }

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
    /// A `bytea` column's bytes, from its text format (`\x` then two hex digits a byte, the
    /// server's default `bytea_output`).
    public func bytes(_ i: Int32) -> [UInt8]? {
        guard let text = string(i) else { return nil }
        let hex = Array(text.utf8.dropFirst(2))
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c >= 65 ? c - 55 : c - 48 }
        return stride(from: 0, to: hex.count - 1, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
    }
    /// `boolean` (`t`/`f`) or an integer flag (`1`/`0`).
    public func bool(_ i: Int32) -> Bool? {
        switch string(i) {
        case nil: return nil
        case "t", "true", "1": return true
        default: return false
        }
    }
}

/// A column type, by the OID of its `pg_type` row; the built-in ones have fixed OIDs
/// (`src/include/catalog/pg_type.dat`).
public struct PostgresType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let bool = PostgresType(rawValue: 16)
    public static let bytea = PostgresType(rawValue: 17)
    public static let int8 = PostgresType(rawValue: 20)
    public static let int2 = PostgresType(rawValue: 21)
    public static let int4 = PostgresType(rawValue: 23)
    public static let oid = PostgresType(rawValue: 26)
    public static let float4 = PostgresType(rawValue: 700)
    public static let float8 = PostgresType(rawValue: 701)
    public static let numeric = PostgresType(rawValue: 1700)

    /// `smallint`, `integer`, `bigint` or `oid`: text that is a whole number.
    public var isInteger: Bool { self == .int2 || self == .int4 || self == .int8 || self == .oid }
    /// `real` or `double precision`.
    public var isFloat: Bool { self == .float4 || self == .float8 }
}
