public import Foundation
import ChoreoLocking
public import ChoreoSQLite

/// Whether the runner's database can still be written: the writers report what became of their
/// writes, the run loop reads it to stop claiming and to stop the run (RELIABILITY.md,
/// "Storage faults").
///
/// A write that fails with a storage fault (a full disk or a file-size limit, an I/O error:
/// `SQLiteError.isStorageFault`) begins a fault; the next write that commits ends it. While it
/// lasts the run starts no job, the streams in flight go on (their text is in memory), and the
/// writes that must not be lost are tried again; once it has lasted `wait` seconds the run stops.
/// A database file that was deleted or replaced stops the run at once: nothing this runner
/// writes from then on reaches the file the user named.
public final class StorageHealth: Sendable {
    public enum Change: Sendable {
        /// Writes began to fail; they are retried until the given time.
        case faulted(SQLiteError, retryingUntil: Date)
        /// A write committed again.
        case recovered
        case lost(DatabaseFileLost)
    }

    /// How long a fault may last before the run stops.
    public let wait: Double
    private let onChange: @Sendable (Change) -> Void
    private struct State {
        var fault: SQLiteError?
        var since = 0.0
        var lost: DatabaseFileLost?
        var lastCheckpoint = 0.0
    }
    private let state = Locked(State())

    public init(wait: Double, onChange: @escaping @Sendable (Change) -> Void = { _ in }) {
        self.wait = wait
        self.onChange = onChange
    }

    /// Records a write's error; true when it is a storage fault or a lost file (anything else
    /// is the writer's own business).
    @discardableResult
    public func failed(_ error: any Error) -> Bool {
        if let lost = error as? DatabaseFileLost {
            let first = state.withLock { s in
                defer { s.lost = s.lost ?? lost }
                return s.lost == nil
            }
            if first { onChange(.lost(lost)) }
            return true
        }
        guard let error = error as? SQLiteError, error.isStorageFault else { return false }
        let began: Double? = state.withLock { s in
            defer { s.fault = error }
            guard s.fault == nil else { return nil }
            s.since = Date().timeIntervalSince1970
            return s.since
        }
        if let began { onChange(.faulted(error, retryingUntil: Date(timeIntervalSince1970: began + wait))) }
        return true
    }

    /// A write committed: the storage takes writes (again).
    public func committed() {
        let ended = state.withLock { s in
            defer { s.fault = nil }
            return s.fault != nil
        }
        if ended { onChange(.recovered) }
    }

    /// Records `error`; true when the write should be tried again: a storage fault that has not
    /// lasted `wait` yet.
    func retries(_ error: any Error) -> Bool {
        guard !(error is DatabaseFileLost), failed(error) else { return false }
        return exhausted == nil && lost == nil
    }

    /// True at most once a second during a fault: time to try to empty the WAL.
    func checkpointDue() -> Bool {
        let t = Date().timeIntervalSince1970
        return state.withLock { s in
            guard t - s.lastCheckpoint >= 1 else { return false }
            s.lastCheckpoint = t
            return true
        }
    }

    /// The last error of the fault going on, if any.
    public var faultError: SQLiteError? { state.withLock { $0.fault } }

    /// True while writes fail with a storage fault.
    public var isFaulty: Bool { state.withLock { $0.fault != nil } }

    /// The last error of a fault that has lasted longer than `wait`: the run must stop.
    public var exhausted: SQLiteError? {
        state.withLock { s in
            guard let fault = s.fault, Date().timeIntervalSince1970 - s.since >= wait else { return nil }
            return fault
        }
    }

    /// Set once the database file was found deleted or replaced.
    public var lost: DatabaseFileLost? { state.withLock { $0.lost } }

    /// One line naming the fault and the file: "database or disk is full: PATH (SQLite error …)".
    public static func describe(_ error: SQLiteError, path: String) -> String {
        "\(isFull(error, path: path) ? "database or disk is full" : "the database cannot be written (I/O error)"): \(path) (\(error))"
    }

    /// What the progress line says of the fault: `disk full` or `I/O error`.
    static func reason(_ error: SQLiteError, path: String) -> String { isFull(error, path: path) ? "disk full" : "I/O error" }

    private static func isFull(_ error: SQLiteError, path: String) -> Bool { error.isDiskFull || reachedFileSizeLimit(path) }

    /// True when the database or its WAL is within 64 KiB of RLIMIT_FSIZE (`ulimit -f`): the I/O
    /// error was EFBIG, whose errno SQLite does not always keep.
    static func reachedFileSizeLimit(_ path: String) -> Bool {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return false }
        return [path, path + "-wal"].contains { file in
            var st = stat()
            return stat(file, &st) == 0 && UInt64(st.st_size) + 65_536 >= UInt64(limit.rlim_cur)
        }
    }
}
