import ChoreoPostgres

/// The batch budgets of the runners on one PostgreSQL database (`BatchBudgets`). Reservations of
/// one batch are serialized by a transaction-scoped advisory lock on the batch (not a lock on its
/// `batches` row, which every job's end updates); the sums are read after the lock is taken, so
/// each sees every reservation committed before it.
extension PostgresJobStore {
    public func reserveBudget(job: Int64, batch: String, amount: Double) async throws -> BatchBudgetAnswer {
        try await write { db in
            _ = try db.run("SELECT pg_advisory_xact_lock(hashtext('choreo-batch-budget:' || $1))", [.init(batch)])
            return try BatchBudgetAnswer.reserve(amount: amount, room: {
                try db.queryOne(BatchBudgetAnswer.roomQuery, [.init(batch), .init(job)]) { ($0.double(0), $0.double(1) ?? 0, $0.double(2) ?? 0) }
            }, write: {
                _ = try db.run(BatchBudgetAnswer.reserveStatement, [.init(amount), .init(job), .init(runnerID)])
            })
        }
    }
}
