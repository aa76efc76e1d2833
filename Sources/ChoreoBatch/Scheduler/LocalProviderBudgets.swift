import Foundation
import ChoreoLocking

/// Provider budgets kept in memory, shared by nobody else: for provider gates that have no
/// database to share them through (tests of the gate alone). The same rules as the stores'
/// (`ProviderBudget`).
final class LocalProviderBudgets: ProviderBudgets {
    private let rows = Locked([String: ProviderBudget]())

    func takePermits(_ ask: PermitAsk) -> PermitGrant {
        let now = Date().timeIntervalSince1970
        return rows.withLock { rows in
            var budget = rows[ask.provider] ?? ProviderBudget(now: now)
            defer { rows[ask.provider] = budget }
            return budget.take(ask, now: now)
        }
    }

    func share(_ notice: ProviderNotice, provider: String) {
        let now = Date().timeIntervalSince1970
        rows.withLock { rows in
            var budget = rows[provider] ?? ProviderBudget(now: now)
            budget.note(notice, now: now)
            rows[provider] = budget
        }
    }
}
