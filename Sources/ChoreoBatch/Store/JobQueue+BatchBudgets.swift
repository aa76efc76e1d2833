import ChoreoSQLite

/// The batch budgets of the runners on one SQLite file (`BatchBudgets`): the check and the
/// reservation in one write transaction (`BEGIN IMMEDIATE`), so two runners' reservations never
/// interleave.
extension JobQueue {
    public func reserveBudget(job: Int64, batch: String, amount: Double) throws -> BatchBudgetAnswer {
        try db.transaction {
            guard let (limit, spent, reserved) = try db.queryOne("""
                SELECT budget_usd,
                       (SELECT coalesce(sum(cost_usd), 0) FROM batch_costs WHERE batch_id = ?1),
                       (SELECT coalesce(sum(reserved_usd), 0) FROM jobs WHERE batch_id = ?1 AND state = 'running' AND id <> ?2)
                FROM batches WHERE id = ?1
                """, [.init(batch), .init(job)], { ($0.double(0), $0.double(1) ?? 0, $0.double(2) ?? 0) }),
                  let limit else { return .reserved }
            let answer = BatchBudgetAnswer.decide(limit: limit, spent: spent, reservedByOthers: reserved, amount: amount)
            if answer == .reserved {
                try db.run("UPDATE jobs SET reserved_usd = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
                           [.init(amount), .init(job), .init(runnerID)])
            }
            return answer
        }
    }
}
