public import ChoreoPostgres
public import ChoreoSQLite

/// One row of a query on either backend, as the code that turns rows into values reads it
/// (`ExportRecord`, `BatchStatus`, `JobDetail.Attempt`, `ModelCost`): each of those is decoded by
/// one initializer, whichever database the row came from. Columns are numbered from 0.
public protocol StoreRow {
    func string(_ i: Int32) -> String?
    func int(_ i: Int32) -> Int?
    func int64(_ i: Int32) -> Int64?
    func double(_ i: Int32) -> Double?
    /// A BLOB (SQLite) or `bytea` (PostgreSQL) column's bytes.
    func blob(_ i: Int32) -> [UInt8]?
}

extension Row: StoreRow {}

extension PostgresRow: StoreRow {
    public func blob(_ i: Int32) -> [UInt8]? { bytes(i) }
}
