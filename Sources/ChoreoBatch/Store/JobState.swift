import ChoreoAI

/// Where a job stands (`jobs.state`; the schema's CHECK constraint allows exactly these).
///
///     pending ──claim──▶ running ──complete──▶ succeeded
///        ▲                  │
///        └──retry, release──┤──endAttempt / endWithoutAttempt──▶ failed | cancelled
///
/// `choreo resume` puts failed (and, with `--cancelled`, cancelled) jobs back to pending.
public enum JobState: String, Sendable, CaseIterable, Hashable {
    case pending, running, succeeded, failed, cancelled

    /// The job is not over yet.
    public var isLive: Bool { self == .pending || self == .running }

    /// How a job that is not tried again ends.
    public enum Final: String, Sendable, Hashable {
        case failed, cancelled

        public var state: JobState { self == .failed ? .failed : .cancelled }
    }
}

/// How one attempt ended (`attempts.outcome`).
public enum AttemptOutcome: String, Sendable, CaseIterable, Hashable {
    /// Its answer is the job's.
    case succeeded
    /// It failed and the job waits for another attempt.
    case retry
    /// The stream broke off (or the run stopped) and the job goes on from its kept text.
    case interrupted
    /// Its kept text cannot be continued (the provider refused a prefill): the job starts over,
    /// and this attempt does not count.
    case restart
    /// It failed and the job failed for good.
    case failed
    /// Its batch was cancelled.
    case cancelled
    /// This runner's lease had expired when it ended: another runner took the job.
    case leaseLost = "lease_lost"
    /// It carried several embeddings jobs in one request, which the provider refused as a whole
    /// (HTTP 400, 413, 422): the jobs go back to the queue to be sent in smaller requests, and
    /// this attempt does not count (`EmbeddingsRequest`).
    case split
}

/// How a failed attempt's end is written: as the runner saw it, or, when the runner's lease had
/// passed and another runner took the job, as `lease_lost` (what the attempt received and paid is
/// kept; the job is the new owner's). Both stores write it the same way.
struct AttemptEnd {
    let outcome: AttemptOutcome
    let kind: String
    let message: String

    init(outcome: AttemptOutcome, failure: AttemptFailure, leaseHeld: Bool) {
        if leaseHeld {
            self.outcome = outcome
            kind = failure.kind.rawValue
            message = failure.message
        } else {
            self.outcome = .leaseLost
            kind = AttemptOutcome.leaseLost.rawValue
            message = "the lease expired before the attempt's end was written; another runner took the job (the attempt: \(failure.message))"
        }
    }
}
