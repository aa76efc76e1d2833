internal import CSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of a database in WAL mode besides the main one, as they were when it was opened.
struct SideFiles: Sendable {
    var wal: FileIdentity?
    var shm: FileIdentity?
}

/// Which file a path names: its device and inode.
struct FileIdentity: Equatable, Sendable, CustomStringConvertible {
    let device: UInt64
    let inode: UInt64

    /// The file at `path` now, or nil when there is none.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }

    var description: String { "device \(device), inode \(inode)" }
}

/// The database file a connection writes to is no longer the file at its path: it was deleted,
/// or another file (an older copy, a restored backup) was put in its place. SQLite keeps writing
/// to the file it opened, so nothing written from then on reaches the file the user named.
public struct DatabaseFileLost: Error, Sendable, CustomStringConvertible {
    public let path: String
    /// True when another file is at the path now; false when there is none.
    public let replaced: Bool

    public var description: String {
        replaced ? "the database file \(path) was replaced by another file during the run"
                 : "the database file \(path) was deleted during the run"
    }
}

extension Database {
    /// The file at `path` is not this connection's any more (`fileLost()`): from now on SQLite must
    /// not touch that path. Its `-wal` and `-shm` files are this connection's: left there, the next
    /// process to open the path would replay this WAL into the other file, or into a new database
    /// made there later. They are unlinked (only if still the ones this connection opened), and the
    /// connection keeps its WAL on close (`SQLITE_FCNTL_PERSIST_WAL`), which stops SQLite deleting
    /// whatever is at `path-wal` and `path-shm` by then.
    package func disown() {
        var persist: Int32 = 1
        sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &persist)
        for (suffix, identity) in [("-wal", sideFiles.wal), ("-shm", sideFiles.shm)] {
            if let identity, FileIdentity(path: path + suffix) == identity { unlink(path + suffix) }
        }
    }

    /// nil while `path` still names the file this connection opened; otherwise how it was lost.
    /// Compares the device and inode the path has now with those it had at open (a `stat`, no
    /// I/O on the database). A file overwritten in place keeps its inode and is not noticed:
    /// that corrupts any SQLite database in use (RELIABILITY.md, "Storage faults").
    public func fileLost() -> DatabaseFileLost? {
        guard let fileIdentity else { return nil }
        guard let now = FileIdentity(path: path) else { return DatabaseFileLost(path: path, replaced: false) }
        return now == fileIdentity ? nil : DatabaseFileLost(path: path, replaced: true)
    }
}
