/// A batch's stored budget (`batches.budget_usd`, `submit --budget`) shared by every runner on
/// the database: before an attempt of one of its jobs, its worst case is reserved on the job's
/// row (`jobs.reserved_usd`) if what the batch spent (`batch_costs`) plus what the running jobs of
/// every runner hold reserved leaves room for it. A reservation counts while its job is
/// `running`: the attempt's end, which records its charge, moves the job out of `running` in the
/// same transaction, so the charge replaces the reservation atomically; a dead runner's
/// reservations count until its jobs are taken back (more caution, never less).
///
/// The run's own `--budget` stays the run's (`BudgetLedger`); two runners each used to read what
/// the batch had spent when they started and then reserve against the whole rest on their own,
/// spending up to twice the cap between them.
public protocol BatchBudgets: Sendable {
    /// Reserves `amount` USD of `batch`'s stored budget for the attempt that `job` (leased to
    /// this runner) is about to make. A batch without a stored budget always has room.
    func reserveBudget(job: Int64, batch: String, amount: Double) async throws -> BatchBudgetAnswer
}

/// What `BatchBudgets.reserveBudget` decided.
public enum BatchBudgetAnswer: Sendable, Equatable {
    /// The attempt may go: its worst case is reserved.
    case reserved
    /// No room now, but running jobs (of any runner) hold reservations that may end cheaper.
    case wait
    /// No room, and nothing reserved will free any: the batch's budget is reached.
    case reached(spent: Double, limit: Double)

    /// The batch's limit (NULL: no stored budget), what it spent, and what its other running jobs
    /// hold reserved: `$1` the batch, `$2` the job. The same SQL on both stores.
    static let roomQuery = """
        SELECT budget_usd,
               (SELECT coalesce(sum(cost_usd), 0) FROM batch_costs WHERE batch_id = $1),
               (SELECT coalesce(sum(reserved_usd), 0) FROM jobs WHERE batch_id = $1 AND state = 'running' AND id <> $2)
        FROM batches WHERE id = $1
        """

    /// Writes the reservation on the job's row: `$1` the amount, `$2` the job, `$3` the runner.
    static let reserveStatement = "UPDATE jobs SET reserved_usd = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'"

    /// One reservation of `amount` for a job, in the caller's transaction, the same on both stores:
    /// `room` runs `roomQuery` (nil when the batch is gone), and `write` runs `reserveStatement`
    /// when the amount fits. Without a stored budget there is nothing to reserve against.
    static func reserve(amount: Double, room: () throws -> (limit: Double?, spent: Double, reservedByOthers: Double)?,
                        write: () throws -> Void) throws -> BatchBudgetAnswer {
        guard let room = try room(), let limit = room.limit else { return .reserved }
        if room.spent + room.reservedByOthers + amount <= limit * (1 + 1e-12) {
            try write()
            return .reserved
        }
        return room.reservedByOthers > 0 ? .wait : .reached(spent: room.spent, limit: limit)
    }
}
