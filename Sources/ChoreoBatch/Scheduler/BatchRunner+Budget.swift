import ChoreoAI
import ChoreoSQLite

extension BatchRunner {
    /// The run's spending caps: `--budget`, and the stored budget of each batch in scope with work
    /// left (with what it spent in earlier runs). nil when no cap applies.
    ///
    /// Refuses to start, before anything is spent, when a job under a cap cannot be bounded: its
    /// model has no price, or it sets no `max_tokens` and its provider has no fixed default (an
    /// embeddings job has no output: its bound is its input).
    func budgetLedger() throws -> BudgetLedger? {
        guard case .sqlite(let path) = location else {
            // A PostgreSQL batch has no stored budget (submit refuses --budget there), and a run's
            // cap is refused rather than run unchecked.
            if options.budget != nil { throw RunError.notOnPostgres("--budget") }
            return nil
        }
        let db = try Database(path: path, busyTimeout: options.busyTimeout)
        let filter = Database.batchFilter("b.id", options.batch)
        var caps: [String: BudgetLedger.Cap] = [:]
        try db.query("""
            SELECT b.id, b.budget_usd, coalesce((SELECT sum(c.cost_usd) FROM batch_costs c WHERE c.batch_id = b.id), 0)
            FROM batches b WHERE b.budget_usd IS NOT NULL AND b.state IN ('pending', 'running') \(filter.sql)
            """, filter.arguments) { row in
            caps[row.string(0) ?? ""] = BudgetLedger.Cap(limit: row.double(1) ?? 0, spent: row.double(2) ?? 0)
        }
        guard options.budget != nil || !caps.isEmpty else { return nil }
        // Without a run cap, only the jobs of batches with a cap of their own are checked.
        let capped = JSONValue.array(caps.keys.sorted().map { .string($0) }).jsonString
        let scope: (sql: String, arguments: [SQLValue]) = options.budget != nil ? ("", [])
            : ("AND j.batch_id IN (SELECT value FROM json_each(?))", [.text(capped)])
        var problems: [String] = []
        try db.query("""
            SELECT j.model, count(*),
                   sum(j.url <> '/v1/embeddings' AND json_extract(j.request, '$.max_tokens') IS NULL
                       AND json_extract(j.request, '$.max_completion_tokens') IS NULL
                       AND json_extract(j.request, '$.max_output_tokens') IS NULL)
            FROM jobs j JOIN batches b ON b.id = j.batch_id
            WHERE b.state IN ('pending', 'running') AND j.state IN ('pending', 'running') \(filter.sql) \(scope.sql)
            GROUP BY j.model ORDER BY j.model
            """, filter.arguments + scope.arguments) { row in
            let model = row.string(0) ?? "", jobs = row.int(1) ?? 0, unbounded = row.int(2) ?? 0
            if options.prices.price(for: model) == nil {
                problems.append("model \(model) has no price (\(jobs) jobs): add it to \"prices\" in choreo.json (docs/cost.md)")
            } else if unbounded > 0, let kind = try? client.provider(for: model).kind,
                      RequestBounds.completionTokens(.object([:]), provider: kind) == nil {
                problems.append("\(unbounded) jobs of model \(model) set no max_tokens, so their cost has no upper bound")
            }
        }
        if !problems.isEmpty { throw RunError.unboundedUnderBudget(problems) }
        return BudgetLedger(run: options.budget, batches: caps)
    }
}
