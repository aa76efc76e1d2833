public import ChoreoSQLite

extension Database {
    /// Opens (creating it with mode 0600 if needed) and migrates the Choreo database at `path`.
    /// With `readOnly`, the file must exist, nothing is migrated (the schema version must be this
    /// build's) and every write fails. `busyTimeout` (seconds) bounds each wait for a lock another
    /// process holds.
    public convenience init(path: String, readOnly: Bool = false, busyTimeout: Double = Database.defaultBusyTimeout) throws {
        try self.init(path: path, readOnly: readOnly, migrate: true, busyTimeout: busyTimeout)
    }

    /// `migrate: false` skips the schema check and migrations (tests that build old databases).
    convenience init(path: String, readOnly: Bool, migrate: Bool, busyTimeout: Double = Database.defaultBusyTimeout) throws {
        do {
            try self.init(path: path, readOnly: readOnly, busyTimeout: busyTimeout, migrator: migrate ? Schema.migrator : nil)
        } catch let error as SQLiteError where error.code == .cantOpen {
            // The path came from the user: say where it came from.
            throw SQLiteError(code: error.code, message: error.message + "; check --db or $CHOREO_DB")
        } catch let error as SQLiteError where error.code.primary == .notADatabase {
            throw SQLiteError(code: error.code, message: "\(path) is not a SQLite database (\(error.message)); check --db or $CHOREO_DB")
        } catch let error as SQLiteError where error.code == .readOnlyDirectory {
            let slash = path.lastIndex(of: "/")
            let folder = slash.map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
            let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
            throw SQLiteError(code: error.code, message: "cannot make files in \(folder), the folder of \(path): SQLite keeps a "
                + "database's write-ahead log beside it (\(name)-wal and \(name)-shm), so this user must be able to write there too")
        }
    }
}
