import ChoreoAI

extension BatchRunner {
    /// The run's spending caps: `--budget`, and the stored budget of each batch in scope with work
    /// left (with what it spent in earlier runs and other runners). nil when no cap applies.
    ///
    /// Refuses to start, before anything is spent, when a job under a cap cannot be bounded: its
    /// model has no price, or it sets no `max_tokens` and its provider has no fixed default (an
    /// embeddings job has no output: its bound is its input).
    func budgetLedger() throws -> BudgetLedger? {
        let store = try location.openBatchStore()
        var caps: [String: BudgetLedger.Cap] = [:]
        try store.read("""
            SELECT b.id, b.budget_usd, coalesce((SELECT sum(c.cost_usd) FROM batch_costs c WHERE c.batch_id = b.id), 0)
            FROM batches b WHERE b.budget_usd IS NOT NULL AND b.state IN ('pending', 'running') AND (CAST($1 AS TEXT) IS NULL OR b.id = $1)
            """, [options.batch]) { row in
            caps[row.string(0) ?? ""] = BudgetLedger.Cap(limit: row.double(1) ?? 0, spent: row.double(2) ?? 0)
        }
        guard options.budget != nil || !caps.isEmpty else { return nil }
        // Without a run cap, only the jobs of batches with a cap of their own are checked.
        let capped = options.budget != nil ? nil : caps.keys.sorted().joined(separator: "\n")
        var problems: [String] = []
        let unbounded = ["max_tokens", "max_completion_tokens", "max_output_tokens"].map { "\(store.dialect.jsonField("r.request", $0)) IS NULL" }
        try store.read("""
            SELECT j.model, count(*),
                   sum(CASE WHEN j.url <> '/v1/embeddings' AND \(unbounded.joined(separator: " AND ")) THEN 1 ELSE 0 END)
            FROM jobs j JOIN batches b ON b.id = j.batch_id JOIN job_requests r ON r.job_id = j.id
            WHERE b.state IN ('pending', 'running') AND j.state IN ('pending', 'running') AND (CAST($1 AS TEXT) IS NULL OR b.id = $1)
              AND (CAST($2 AS TEXT) IS NULL OR \(store.dialect.isOneOfLines("j.batch_id", "$2")))
            GROUP BY j.model ORDER BY j.model
            """, [options.batch, capped]) { row in
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
