import ChoreoSQLite

/// The batch budgets of the runners on one SQLite file (`BatchBudgets`): the check and the
/// reservation in one write transaction (`BEGIN IMMEDIATE`), so two runners' reservations never
/// interleave.
extension JobQueue {
    public func reserveBudget(job: Int64, batch: String, amount: Double) throws -> BatchBudgetAnswer {
        try db.transaction {
            guard let (limit, spent, reserved) = try db.queryOne(BatchBudgetAnswer.roomQuery, [.init(batch), .init(job)], {
                ($0.double(0), $0.double(1) ?? 0, $0.double(2) ?? 0)
            }), let limit else { return .reserved }
            let answer = BatchBudgetAnswer.decide(limit: limit, spent: spent, reservedByOthers: reserved, amount: amount)
            if answer == .reserved {
                try db.run(BatchBudgetAnswer.reserveStatement, [.init(amount), .init(job), .init(runnerID)])
            }
            return answer
        }
    }
}
