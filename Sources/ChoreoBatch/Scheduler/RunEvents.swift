import ChoreoAI
import Foundation
import Synchronization

/// What a run reports as it goes: counters for the progress display (read any time with
/// `snapshot`) and log lines for failures and retries (handed to `sink`).
public final class RunEvents: Sendable {
    public enum Level: String, Sendable { case info, warning, error }

    /// One log record. `job` is the custom_id; never carries a key or a request body.
    public struct Record: Sendable {
        public var time: Date
        public var level: Level
        public var message: String
        public var job: String?
        public var kind: String?

        public init(time: Date, level: Level, message: String, job: String? = nil, kind: String? = nil) {
            self.time = time
            self.level = level
            self.message = message
            self.job = job
            self.kind = kind
        }
    }

    /// The counters of a run.
    public struct Snapshot: Sendable {
        /// Jobs in scope when the run started (done + left).
        public var total = 0
        /// Jobs already finished before this run started.
        public var doneBefore = 0
        public var succeeded = 0
        public var failed = 0
        public var retries = 0
        public var inFlight = 0
        public var completionTokens = 0
        public var started = Date()

        public var done: Int { doneBefore + succeeded + failed }
        public var elapsed: Double { Date().timeIntervalSince(started) }
        public var tokensPerSecond: Double { elapsed > 0 ? Double(completionTokens) / elapsed : 0 }
        /// Seconds left at the rate of this run so far, nil before the first job ends.
        public var eta: Double? {
            let finished = succeeded + failed
            guard finished > 0, elapsed > 0 else { return nil }
            return Double(max(0, total - done)) / (Double(finished) / elapsed)
        }
    }

    private let state = Mutex(Snapshot())
    private let sink: @Sendable (Record) -> Void

    public init(sink: @escaping @Sendable (Record) -> Void = { _ in }) { self.sink = sink }

    public var snapshot: Snapshot { state.withLock { $0 } }

    func begin(total: Int, doneBefore: Int) {
        state.withLock { $0.total = total; $0.doneBefore = doneBefore; $0.started = Date() }
    }

    func inFlight(_ n: Int) { state.withLock { $0.inFlight = n } }

    func succeeded(job: String, completionTokens: Int) {
        state.withLock { $0.succeeded += 1; $0.completionTokens += completionTokens }
    }

    func failed(job: String, failure: Failure) {
        state.withLock { $0.failed += 1 }
        sink(Record(time: Date(), level: .error, message: "failed: \(failure.message)", job: job, kind: failure.kind))
    }

    func retrying(job: String, failure: Failure, attempt: Int, delay: Double) {
        state.withLock { $0.retries += 1 }
        sink(Record(time: Date(), level: .warning,
                    message: "attempt \(attempt) ended (\(failure.message)); retrying in \(String(format: "%.1f", delay)) s",
                    job: job, kind: failure.kind))
    }

    func log(_ level: Level, _ message: String) {
        sink(Record(time: Date(), level: level, message: message, job: nil, kind: nil))
    }
}
