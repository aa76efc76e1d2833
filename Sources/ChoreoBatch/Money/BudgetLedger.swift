import ChoreoLocking

/// The run's spending caps, reserve-then-settle: before a job starts, its worst-case cost is
/// reserved against every cap it falls under (the run's `--budget`, its batch's stored budget);
/// when the attempt ends, the reservation is replaced by what it was billed. A job starts only
/// when its reservation fits under every cap, so what is spent never exceeds a cap as long as an
/// attempt costs no more than its worst case (`RequestBounds`).
///
/// A reservation that does not fit while others are outstanding waits for one of them to settle
/// (it may have cost less); when nothing is outstanding it never will fit: the cap is reached.
public final class BudgetLedger: Sendable {
    public struct Cap: Sendable, Hashable {
        public var limit: Double
        /// Billed so far (for a batch: in earlier runs too).
        public var spent: Double
        var reserved = 0.0
        var outstanding = 0

        public init(limit: Double, spent: Double) {
            self.limit = limit
            self.spent = spent
        }

        func fits(_ amount: Double) -> Bool { spent + reserved + amount <= limit * (1 + 1e-12) }
    }

    /// A granted reservation; settle it exactly once.
    public struct Reservation: Sendable {
        let batch: String?
        public let amount: Double
    }

    private struct State {
        var run: Cap?
        var batches: [String: Cap]
        /// Moves on every settle: a waiter that saw an older value re-checks.
        var generation = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        /// The cap found reached: nothing outstanding and the next job does not fit.
        var reached: Cap?
    }

    private let state: Locked<State>

    /// `run`: the cap on this run's spending; `batches`: stored caps, with what each batch spent before.
    public init(run: Double?, batches: [String: Cap] = [:]) {
        state = Locked(State(run: run.map { Cap(limit: $0, spent: 0) }, batches: batches))
    }

    /// Whether any cap applies to jobs of `batch`.
    public func governs(batch: String) -> Bool { state.withLock { $0.run != nil || $0.batches[batch] != nil } }

    /// Whether `batch` has a stored budget, which every runner on the database shares: its room is
    /// decided by the store (`BatchBudgets`), this ledger's view of it being this run's alone.
    public func hasStoredBudget(batch: String) -> Bool { state.withLock { $0.batches[batch] != nil } }

    /// The cap that stopped the run, if one did.
    public var reached: Cap? { state.withLock { $0.reached } }

    /// The store found `batch`'s stored budget reached (what every runner spent on it: `spent`).
    public func storedBudgetReached(batch: String, spent: Double, limit: Double) {
        state.withLock { s in
            if s.reached == nil { s.reached = Cap(limit: limit, spent: spent) }
        }
    }

    /// The run's cap as it stands (spent in this run).
    public var run: Cap? { state.withLock { $0.run } }

    private enum Attempt { case granted(Reservation), wait(generation: Int), never }

    /// Reserves `amount` for a job of `batch`. Waits while outstanding reservations may still free
    /// room; nil when the job can never fit (the cap is reached) or the task was cancelled.
    public func reserve(batch: String, amount: Double) async -> Reservation? {
        while !Task.isCancelled {
            let attempt: Attempt = state.withLock { s in
                let batchCap = s.batches[batch]
                let caps = [s.run, batchCap].compactMap { $0 }
                if caps.allSatisfy({ $0.fits(amount) }) {
                    s.run?.reserved += amount
                    s.run?.outstanding += 1
                    s.batches[batch]?.reserved += amount
                    s.batches[batch]?.outstanding += 1
                    return .granted(Reservation(batch: batchCap == nil ? nil : batch, amount: amount))
                }
                let blocking = caps.filter { !$0.fits(amount) }
                if blocking.allSatisfy({ $0.outstanding > 0 }) { return .wait(generation: s.generation) }
                s.reached = blocking.first { $0.outstanding == 0 }
                return .never
            }
            switch attempt {
            case .granted(let r): return r
            case .never: return nil
            case .wait(let generation): await waitForSettle(after: generation)
            }
        }
        return nil
    }

    /// Replaces `reservation` by the attempt's actual `cost` and wakes the waiting reservations.
    public func settle(_ reservation: Reservation, cost: Double) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.run?.reserved -= reservation.amount
            s.run?.outstanding -= 1
            s.run?.spent += cost
            if let b = reservation.batch {
                s.batches[b]?.reserved -= reservation.amount
                s.batches[b]?.outstanding -= 1
                s.batches[b]?.spent += cost
            }
            s.generation += 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    private func waitForSettle(after generation: Int) async {
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s in
                    // Cancellation is set before its handler runs: checking it here, under the
                    // lock the handler takes too, closes the race with a handler that ran first.
                    if s.generation != generation || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
