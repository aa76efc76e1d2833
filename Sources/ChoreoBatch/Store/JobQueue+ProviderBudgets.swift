import ChoreoSQLite
import Foundation

/// The provider budgets of the runners on one SQLite file (`ProviderBudgets`), in its table
/// `provider_budgets`. A take that can change a bucket is a write transaction (`BEGIN IMMEDIATE`,
/// so two runners' takes never interleave); one with no limit only reads the pauses.
extension JobQueue {
    public func takePermits(_ ask: PermitAsk) throws -> PermitGrant {
        let t = Date().timeIntervalSince1970
        guard ProviderBudget.writes(ask) else {
            var budget = try budget(of: ask.provider) ?? ProviderBudget(now: t)
            return budget.take(ask, now: t)
        }
        return try db.transaction {
            var budget = try budget(of: ask.provider) ?? ProviderBudget(now: t)
            let grant = budget.take(ask, now: t)
            try save(budget, of: ask.provider)
            return grant
        }
    }

    public func share(_ notice: ProviderNotice, provider: String) throws {
        let t = Date().timeIntervalSince1970
        try db.transaction {
            var budget = try budget(of: provider) ?? ProviderBudget(now: t)
            budget.note(notice, now: t)
            try save(budget, of: provider)
        }
    }

    private func budget(of provider: String) throws -> ProviderBudget? {
        try db.queryOne("""
            SELECT requests, tokens, refilled_at, rate_limited_until, unreachable_until FROM provider_budgets WHERE provider = ?
            """, [.init(provider)]) { row in
            ProviderBudget(requests: row.double(0), tokens: row.double(1), refilledAt: row.double(2) ?? 0,
                           rateLimitedUntil: row.double(3) ?? 0, unreachableUntil: row.double(4) ?? 0)
        }
    }

    private func save(_ budget: ProviderBudget, of provider: String) throws {
        try db.run("""
            INSERT INTO provider_budgets (provider, requests, tokens, refilled_at, rate_limited_until, unreachable_until)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (provider) DO UPDATE SET requests = excluded.requests, tokens = excluded.tokens,
              refilled_at = excluded.refilled_at, rate_limited_until = excluded.rate_limited_until,
              unreachable_until = excluded.unreachable_until
            """, [.init(provider), .init(budget.requests), .init(budget.tokens), .init(budget.refilledAt),
                  .init(budget.rateLimitedUntil), .init(budget.unreachableUntil)])
    }
}
