import ChoreoAI
import Foundation

/// How `choreo run` runs: limits, budgets, timings.
public struct RunOptions: Sendable {
    /// Only this batch (nil: every runnable job in the database).
    public var batch: String?
    /// Streams in flight at most.
    public var concurrency: Int = 64
    /// Retry policy; `maxAttempts` counts from the last resume. A server's wait is honoured up to
    /// `RetryHints.maxWait`: the job waits in the queue, not in a task, and `deadline` still holds.
    public var retry = RetryPolicy(maxServerDelay: RetryHints.maxWait)
    /// Stop starting jobs in time to end by then; at the deadline, interrupt what is left.
    public var deadline: Date?
    /// Default request and token budgets per minute for providers without their own.
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    /// How often partial outputs are written (one transaction for all jobs).
    public var flushInterval: Double = 0.1
    /// Lease length; renewed every third of it while the runner lives.
    public var leaseSeconds: Double = 30
    /// Continue interrupted streams with a prefill on every provider (else only where configured).
    public var continuePartial = false
    /// Seconds without a byte after which a stream counts as stalled, for every provider.
    public var stallTimeout: Double?

    public init() {}
}
