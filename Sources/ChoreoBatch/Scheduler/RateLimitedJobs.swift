import ChoreoLocking
import Synchronization

/// Since when each job's attempts have ended in nothing but 429s, in this run. A 429 says
/// "later", not "no": it uses up none of the job's attempts until the job has heard only that
/// for the outage limit (`JobExecution.conclude`). A job leaves with any other end of an attempt.
final class RateLimitedJobs: Sendable {
    private let since = Locked([Int64: Double]())
    /// How many jobs `since` holds: every success looks here, without the lock, before it leaves.
    private let count = Atomic<Int>(0)

    /// A 429 ended an attempt of `job` at `now`: whether it counts against the job's attempts,
    /// which it does once the job has heard nothing else for `limit` seconds.
    func counts(_ job: Int64, at now: Double, after limit: Double) -> Bool {
        let first = since.withLock { s in
            if let first = s[job] { return first }
            s[job] = now
            count.add(1, ordering: .relaxed)
            return now
        }
        return now - first >= limit
    }

    /// An attempt of `job` ended otherwise.
    func ended(_ job: Int64) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        since.withLock { s in
            if s.removeValue(forKey: job) != nil { count.subtract(1, ordering: .relaxed) }
        }
    }
}
