import Foundation
public import ChoreoSQLite

/// How amounts of money read, in every view: US dollars, cents for amounts of a dollar or more,
/// four decimals below, six below a hundredth of a cent (a job often costs a fraction of a cent);
/// `unknown` when a price is missing.
public enum Money {
    public static func usd(_ amount: Double?) -> String {
        guard let amount else { return "unknown" }
        if amount == 0 { return "$0.00" }
        let size = abs(amount)
        if size >= 1 { return String(format: "$%.2f", amount) }
        if size >= 0.0001 { return String(format: "$%.4f", amount) }
        // A mock job or a short prompt costs millionths of a dollar: not "$0.0000", which reads as free.
        return size >= 0.000001 ? String(format: "$%.6f", amount) : (amount > 0 ? "<$0.000001" : "-<$0.000001")
    }

    /// `1204` → `1,204`.
    public static func grouped(_ n: Int) -> String { BatchStatus.grouped(n) }
}

extension Database {
    /// Stores `usd` as `batch`'s budget: every later run caps the batch's spending (all runs) at it.
    public func setBudget(batch: String, usd: Double) throws {
        try run("UPDATE batches SET budget_usd = ? WHERE id = ?", [.init(usd), .init(batch)])
    }
}
