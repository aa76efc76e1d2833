import ChoreoSQLite

/// The batch budgets of the runners on one SQLite file (`BatchBudgets`): the check and the
/// reservation in one write transaction (`BEGIN IMMEDIATE`), so two runners' reservations never
/// interleave.
extension JobQueue {
    public func reserveBudget(job: Int64, batch: String, amount: Double) throws -> BatchBudgetAnswer {
        try db.transaction {
            try BatchBudgetAnswer.reserve(amount: amount, room: {
                try db.queryOne(BatchBudgetAnswer.roomQuery, [.init(batch), .init(job)]) { ($0.double(0), $0.double(1) ?? 0, $0.double(2) ?? 0) }
            }, write: {
                try db.run(BatchBudgetAnswer.reserveStatement, [.init(amount), .init(job), .init(runnerID)])
            })
        }
    }
}
