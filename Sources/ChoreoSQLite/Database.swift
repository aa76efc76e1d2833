internal import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to a SQLite database. Owns its `sqlite3*` and closes it in `deinit`.
///
/// Not `Sendable`: a connection has exactly one owner at a time (an actor, or one command). The
/// connection is opened in SQLite's multi-thread mode, so moving it between threads is fine as
/// long as two threads never use it at once — which the type system enforces by not sharing it.
/// Several processes (runners, `choreo status`) use the same file through their own connections;
/// WAL mode lets readers proceed while one writer writes.
public final class Database {
    let handle: OpaquePointer
    /// The file this connection opened.
    public let path: String
    public let isReadOnly: Bool
    /// The file at `path` when the connection opened it (nil in memory): see `fileLost()`.
    let fileIdentity: FileIdentity?
    /// Its `-wal` and `-shm` once in WAL mode: see `disown()`.
    private(set) var sideFiles = SideFiles()
    private var statements: [StatementKey: Statement] = [:]
    private var transactionDepth = 0
    /// This connection's busy timeout in milliseconds (restored after a checkpoint's shorter wait).
    private let busyTimeoutMs: Int32

    /// Process-wide settings, made once before SQLite initializes (the first open): see
    /// `choreo_sqlite_disable_memory_statistics`. Too late (another library opened a database
    /// first) is harmless: the statistics then just stay on.
    private static let configureSQLite: Void = { _ = choreo_sqlite_disable_memory_statistics() }()

    /// How long a statement waits for another connection's lock before it fails with
    /// `SQLITE_BUSY`, unless the opener asks for another.
    public static let defaultBusyTimeout = 10.0

    /// Opens (creating it with mode 0600 if needed) the database at `path`, then brings it to
    /// `migrator`'s schema (nil: leaves the schema alone; tests that build old databases).
    /// With `readOnly`, the file must exist, `migrator` only checks the version and every write
    /// fails. `busyTimeout` (seconds) bounds each wait for a lock another process holds.
    ///
    /// Choreo's store opens its databases through ChoreoBatch's `init(path:readOnly:busyTimeout:)`,
    /// which passes Choreo's schema.
    package init(path: String, readOnly: Bool, busyTimeout: Double = Database.defaultBusyTimeout, migrator: Migrator?) throws {
        self.path = path
        self.isReadOnly = readOnly
        self.busyTimeoutMs = Int32(max(0, min(busyTimeout, 86_400)) * 1000)
        let isFile = !path.isEmpty && path != ":memory:" && !path.hasPrefix("file:")
        var info = stat()
        let exists = isFile && stat(path, &info) == 0
        if exists, (info.st_mode & S_IFMT) == S_IFDIR {
            throw SQLiteError(code: .cantOpen, message: "\(path) is a folder, not a database file")
        }
        if !readOnly, isFile {
            // Create the file ourselves so it is private from the first byte: results may contain
            // anything users sent to a model. SQLite gives its -wal and -shm files the same mode.
            let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                // A file that exists and cannot be written (another user's, mode 0600, say), or
                // one that cannot be made (its folder).
                throw SQLiteError(code: .cantOpen, message: exists ? "cannot open database file \(path) for writing: \(reason)"
                                                                   : "cannot create database file \(path): \(reason)")
            }
            close(fd)
        }
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        Self.configureSQLite
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let error = SQLiteError(code: rc, connection: db, sql: nil)
            sqlite3_close_v2(db)
            if rc == SQLITE_CANTOPEN {
                let reason = error.systemErrno == 0 ? "" : ": " + String(cString: strerror(error.systemErrno))
                throw SQLiteError(code: error.code, message: "cannot open database \(path) (\(error.message)\(reason))")
            }
            throw error
        }
        self.handle = db
        self.fileIdentity = isFile ? FileIdentity(path: path) : nil
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMs)
        if readOnly {
            // READONLY already refuses writes to the file; query_only also refuses them for
            // attached or temporary databases, so `choreo sql` can never change anything.
            try execute("PRAGMA query_only = ON")
            authorizeReadsOnly()
            try migrator?.checkVersion(self)
        } else {
            try execute("PRAGMA journal_mode = WAL")
            // In WAL mode, NORMAL syncs the WAL only at checkpoints: a crash of the application
            // cannot lose or corrupt a committed transaction; only a power loss or OS crash can
            // lose the last few commits, and even then the database stays consistent. FULL would
            // fsync every commit, which partial-output updates every ~100 ms cannot afford.
            try execute("PRAGMA synchronous = NORMAL")
            try execute("PRAGMA foreign_keys = ON")
            // A big submit writes its whole transaction to the WAL; after the next checkpoint,
            // truncate the file back to 64 MiB instead of keeping it at its largest size forever.
            try execute("PRAGMA journal_size_limit = 67108864")
            try migrator?.migrate(self)
            // Statement journals (what undoes one statement or savepoint of a transaction, as
            // the runner's group commits do per write) in memory: with the default they spilled
            // to a temporary file past 64 KiB, and a firehose run wrote 21 MB to files in
            // /var/tmp (10,000 writes for 2,000 jobs). Set after the migrations, whose
            // table rewrites would hold whole tables this way.
            try execute("PRAGMA temp_store = MEMORY")
            if isFile { sideFiles = SideFiles(wal: FileIdentity(path: path + "-wal"), shm: FileIdentity(path: path + "-shm")) }
        }
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more `;`-separated statements that take no arguments (DDL, pragmas, scripts).
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw SQLiteError(code: ResultCode(rawValue: rc), message: text, sql: sql, systemErrno: sqlite3_system_errno(handle))
        }
    }

    /// Runs one statement to completion (writes). The prepared statement is cached by its SQL text.
    public func run(_ sql: String, _ arguments: [SQLValue] = []) throws {
        try withStatement(sql) { stmt in
            try stmt.bind(arguments)
            while try stmt.step() {}
        }
    }

    /// Runs one statement once for each element of `rows` (its arguments), looking the prepared
    /// statement up once: many rows of the same write (a partial flush: hundreds per transaction)
    /// hashed the SQL text again for every one. Returns the positions in `rows` of the runs that
    /// changed no row (`changes` 0). An array, not any sequence: a generic function of this module
    /// is not specialized for its callers, and iterating a lazy sequence through its witness table
    /// cost a partial flush a quarter of its instructions (callgrind).
    @discardableResult
    public func runEach(_ sql: String, _ rows: [[SQLValue]]) throws -> [Int] {
        try withStatement(sql) { stmt in
            var unchanged: [Int] = []
            for (position, arguments) in rows.enumerated() {
                try stmt.bind(arguments)
                while try stmt.step() {}
                stmt.finish()
                if changes == 0 { unchanged.append(position) }
            }
            return unchanged
        }
    }

    /// Runs a query and calls `body` once per row, streaming: no row is kept after `body` returns.
    public func query(_ sql: String, _ arguments: [SQLValue] = [], _ body: (Row) throws -> Void) throws {
        try withStatement(sql) { stmt in
            try stmt.bind(arguments)
            let row = Row(statement: stmt)
            while try stmt.step() { try body(row) }
        }
    }

    /// The first row of a query mapped by `map`, or nil when there is none.
    public func queryOne<T>(_ sql: String, _ arguments: [SQLValue] = [], _ map: (Row) throws -> T) throws -> T? {
        try withStatement(sql) { stmt in
            try stmt.bind(arguments)
            return try stmt.step() ? map(Row(statement: stmt)) : nil
        }
    }

    /// How SQLite takes locks when a transaction begins. Every transaction here writes, so only
    /// IMMEDIATE is offered.
    public enum TransactionKind: String, Sendable {
        /// Takes the write lock at once, so a busy database is detected (and waited for) up front.
        case immediate = "IMMEDIATE"
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    /// Nested calls become savepoints of the outer transaction.
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        let nested = transactionDepth > 0
        let name = "choreo_sp\(transactionDepth)"
        // Prepared once and cached like any statement: parsing BEGIN and COMMIT again for every
        // transaction was a visible part of a short job's CPU.
        try run(nested ? "SAVEPOINT \(name)" : "BEGIN \(kind.rawValue)")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body()
            try run(nested ? "RELEASE \(name)" : "COMMIT")
            return result
        } catch {
            if nested {
                try? run("ROLLBACK TO \(name)")
                try? run("RELEASE \(name)")
            } else if sqlite3_get_autocommit(handle) == 0 {
                try? run("ROLLBACK")
            }
            throw error
        }
    }

    /// Copies every committed transaction from the WAL into the database file and empties the
    /// WAL (`wal_checkpoint(TRUNCATE)`), so that the main file alone holds everything: a process
    /// that exits without closing its connection leaves its last commits only in `-wal`, and a
    /// backup of the main file would miss them. Waits at most `wait` seconds for other processes'
    /// writers and readers (a command's exit must not hang on another runner); returns false when
    /// one kept the checkpoint from completing (the WAL still holds everything then).
    @discardableResult
    public func checkpoint(wait: Double = 2) throws -> Bool {
        sqlite3_busy_timeout(handle, Int32(wait * 1000))
        defer { sqlite3_busy_timeout(handle, busyTimeoutMs) }
        // (busy, WAL frames, frames checkpointed): busy = 1 when it could not finish.
        let busy = try queryOne("PRAGMA wal_checkpoint(TRUNCATE)") { $0.int(0) ?? 0 } ?? 0
        return busy == 0
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }
    /// The rowid of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    /// True while a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Lends the cached statement for `sql`. A statement already in use (a query run from inside
    /// another query's row closure with the same SQL) gets a fresh, uncached one instead.
    private func withStatement<T>(_ sql: String, _ body: (Statement) throws -> T) throws -> T {
        let stmt: Statement
        let key = StatementKey(sql)
        if let cached = statements[key], !cached.inUse {
            stmt = cached
        } else {
            stmt = try Statement(connection: self, sql: sql)
            // Bounded so that ad-hoc SQL (`choreo sql`, string-built queries) cannot grow it forever.
            if statements[key] == nil, statements.count < 256 { statements[key] = stmt }
        }
        stmt.inUse = true
        defer {
            stmt.finish()
            stmt.inUse = false
        }
        return try body(stmt)
    }
}

/// A prepared statement's key in a connection's cache: its SQL text, hashed by its length and
/// its first and last 32 bytes, not byte by byte as a `String` is (~2,300 instructions for a
/// 1 KB statement, on every run of it: 1% of a firehose run). Texts that differ only in between
/// share a hash and are told apart by `==`, which compares the whole text.
struct StatementKey: Hashable {
    let sql: String

    init(_ sql: String) { self.sql = sql }

    func hash(into hasher: inout Hasher) {
        var text = sql
        text.withUTF8 { bytes in
            let ends = min(32, bytes.count)
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[..<ends])))
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[(bytes.count - ends)...])))
        }
    }
}
