import ChoreoPostgres

/// The batch budgets of the runners on one PostgreSQL database (`BatchBudgets`). Reservations of
/// one batch are serialized by a transaction-scoped advisory lock on the batch (not a lock on its
/// `batches` row, which every job's end updates); the sums are read after the lock is taken, so
/// each sees every reservation committed before it.
extension PostgresJobStore {
    public func reserveBudget(job: Int64, batch: String, amount: Double) async throws -> BatchBudgetAnswer {
        try await write { db in
            _ = try db.run("SELECT pg_advisory_xact_lock(hashtext('choreo-batch-budget:' || $1))", [.init(batch)])
            guard let row = try db.queryOne("""
                SELECT budget_usd,
                       (SELECT coalesce(sum(cost_usd), 0) FROM batch_costs WHERE batch_id = $1),
                       (SELECT coalesce(sum(reserved_usd), 0) FROM jobs WHERE batch_id = $1 AND state = 'running' AND id <> $2)
                FROM batches WHERE id = $1
                """, [.init(batch), .init(job)], { ($0.double(0), $0.double(1) ?? 0, $0.double(2) ?? 0) }),
                  let limit = row.0 else { return .reserved }
            let answer = BatchBudgetAnswer.decide(limit: limit, spent: row.1, reservedByOthers: row.2, amount: amount)
            if answer == .reserved {
                try db.run("UPDATE jobs SET reserved_usd = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
                           [.init(amount), .init(job), .init(runnerID)])
            }
            return answer
        }
    }
}
