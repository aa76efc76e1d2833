import ChoreoPostgres

/// The provider budgets of the runners on one PostgreSQL database (`ProviderBudgets`), in its
/// table `provider_budgets`. A take locks the provider's row (`FOR UPDATE`) for its transaction,
/// so concurrent takes queue on that row only. Times are PostgreSQL's clock, not the runner's:
/// runners on machines whose clocks disagree refill one bucket at one rate.
extension PostgresJobStore {
    public func takePermits(_ ask: PermitAsk) async throws -> PermitGrant {
        guard ProviderBudget.writes(ask) else {
            // No limit: the pauses only, in a read.
            return try read { db in
                let row = try Self.budget(of: ask.provider, lock: false, db: db)
                var budget = row?.0 ?? ProviderBudget(now: 0)
                return budget.take(ask, now: row?.1 ?? 0)
            }
        }
        return try await write { db in
            let (found, t) = try Self.lockedBudget(of: ask.provider, db: db)
            var budget = found
            let grant = budget.take(ask, now: t)
            try Self.save(budget, of: ask.provider, db: db)
            return grant
        }
    }

    public func share(_ notice: ProviderNotice, provider: String) async throws {
        try await write { db in
            let (found, t) = try Self.lockedBudget(of: provider, db: db)
            var budget = found
            budget.note(notice, now: t)
            try Self.save(budget, of: provider, db: db)
        }
    }

    /// The provider's row, locked until the transaction ends (created full when it had none), and
    /// the database's time.
    private static func lockedBudget(of provider: String, db: PostgresConnection) throws -> (ProviderBudget, Double) {
        if let found = try budget(of: provider, lock: true, db: db) { return found }
        try db.run("INSERT INTO provider_budgets (provider, refilled_at) VALUES ($1, \(serverClock)) ON CONFLICT (provider) DO NOTHING",
                   [.init(provider)])
        guard let created = try budget(of: provider, lock: true, db: db) else {
            fatalError("provider_budgets: the row of \(provider) was inserted in this transaction and is gone")
        }
        return created
    }

    private static func budget(of provider: String, lock: Bool, db: PostgresConnection) throws -> (ProviderBudget, Double)? {
        try db.queryOne("""
            SELECT requests, tokens, refilled_at, rate_limited_until, unreachable_until, \(serverClock)
            FROM provider_budgets WHERE provider = $1\(lock ? " FOR UPDATE" : "")
            """, [.init(provider)]) { row in
            (ProviderBudget(requests: row.double(0), tokens: row.double(1), refilledAt: row.double(2) ?? 0,
                            rateLimitedUntil: row.double(3) ?? 0, unreachableUntil: row.double(4) ?? 0), row.double(5) ?? 0)
        }
    }

    private static func save(_ budget: ProviderBudget, of provider: String, db: PostgresConnection) throws {
        try db.run("""
            UPDATE provider_budgets SET requests = $2, tokens = $3, refilled_at = $4, rate_limited_until = $5, unreachable_until = $6
            WHERE provider = $1
            """, [.init(provider), .init(budget.requests), .init(budget.tokens), .init(budget.refilledAt),
                  .init(budget.rateLimitedUntil), .init(budget.unreachableUntil)])
    }
}
