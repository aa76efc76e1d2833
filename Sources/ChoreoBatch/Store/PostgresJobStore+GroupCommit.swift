import ChoreoPostgres
import ChoreoAI

/// Group commit on PostgreSQL: the writes every job makes (an attempt's start, a success, an
/// attempt's end) that arrive together (`WriteGroups`) are written in ONE transaction, and each
/// kind in ONE statement for the whole group: the jobs' values as arrays, one per column, joined
/// to `jobs` and `attempts` through `UNNEST`. A group of 200 finishes is `BEGIN`, two statements
/// and `COMMIT`, where each finish used to be a transaction of its own.
///
/// Every guarantee of the one-job statements holds, row by row: a write changes a job only under
/// this runner's lease (`startAttempt` of a job whose lease passed gets `LeaseLost`, a `complete`
/// is written as `lease_lost` and returns false); an attempt's end and its charge are one row
/// update. A group whose statements fail for a reason other than a lost race or a lost
/// connection (a value PostgreSQL refuses, such as text holding NUL) is run again one write per
/// transaction, so that only the write at fault fails.
///
/// A write that reached `COMMIT` when the connection broke may have been committed or not; it is
/// retried, and the retry recognises its own landed work by the attempt's number: a start finds
/// its attempt row (the number it was given is remembered, `unconfirmedStarts`), a success finds
/// its attempt `succeeded`, an attempt's end finds the end it wrote. None is written twice.
extension PostgresJobStore {
    /// One of the writes `WriteGroups` gathers. `afterLostConnection`: an earlier try of it failed
    /// with the connection, maybe at `COMMIT`, so what it wrote may be there already.
    struct GroupedWrite {
        enum Kind {
            case start(job: Int64, continuedFromChars: Int?, continuation: AttemptContinuation?, at: Double)
            case complete(job: Int64, attempt: Int, outcome: JobOutcome, at: Double)
            case end(job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                     finalState: JobState.Final, countsAsAttempt: Bool, at: Double)
        }

        let kind: Kind
        var afterLostConnection = false

        var job: Int64 {
            switch kind {
            case .start(let job, _, _, _), .complete(let job, _, _, _), .end(let job, _, _, _, _, _, _, _): job
            }
        }
    }

    enum GroupedResult: Sendable {
        /// A start's attempt number.
        case attempt(Int)
        /// Whether a success was written under this runner's lease.
        case leaseHeld(Bool)
        case done
    }

    /// Writes `group` in the open transaction and returns each write's result, in order. A write
    /// whose job is already in the group (never from the runner, which awaits each write of a job)
    /// goes in a later round of the same transaction, so one statement never meets a job twice.
    static func apply(_ group: [GroupedWrite], runnerID: String, unconfirmedStarts: inout [Int64: Int],
                      db: PostgresConnection) throws -> [Result<GroupedResult, any Error>] {
        var results = [Result<GroupedResult, any Error>?](repeating: nil, count: group.count)
        var roundOfJob: [Int64: Int] = [:]
        var rounds: [[Int]] = []
        for (i, write) in group.enumerated() {
            let round = roundOfJob[write.job].map { $0 + 1 } ?? 0
            roundOfJob[write.job] = round
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(i)
        }
        for round in rounds {
            // Each statement takes its rows in id order, so two runners' groups lock rows in one order.
            let writes = round.map { (index: $0, write: group[$0]) }.sorted { $0.write.job < $1.write.job }
            try start(writes, runnerID: runnerID, unconfirmedStarts: &unconfirmedStarts, db: db, results: &results)
            try complete(writes, runnerID: runnerID, db: db, results: &results)
            try end(writes, runnerID: runnerID, db: db, results: &results)
        }
        return results.map { $0! }
    }

    // MARK: Starts

    private static func start(_ writes: [(index: Int, write: GroupedWrite)], runnerID: String, unconfirmedStarts: inout [Int64: Int],
                              db: PostgresConnection, results: inout [Result<GroupedResult, any Error>?]) throws {
        var starts = writes.compactMap { w -> (index: Int, job: Int64, fromChars: Int?, continuation: AttemptContinuation?, t: Double)? in
            guard case let .start(job, fromChars, continuation, t) = w.write.kind else { return nil }
            return (w.index, job, fromChars, continuation, t)
        }
        guard !starts.isEmpty else { return }
        // A start tried before, whose COMMIT may have landed: its attempt is there if it did.
        let unsure = starts.compactMap { s in unconfirmedStarts[s.job].map { (job: s.job, number: $0) } }
        if !unsure.isEmpty {
            var landed: [Int64: Int] = [:]
            try db.query("""
                SELECT a.job_id, a.number FROM attempts a JOIN unnest($1::bigint[], $2::integer[]) AS u(job, number)
                  ON a.job_id = u.job AND a.number = u.number
                WHERE a.runner = $3
                """, [.init(unsure.map(\.job)), .init(unsure.map(\.number)), .init(runnerID)]) { landed[$0.int64(0)!] = $0.int(1)! }
            for s in starts { if let number = landed[s.job] { results[s.index] = .success(.attempt(number)) } }
            starts.removeAll { landed[$0.job] != nil }
            guard !starts.isEmpty else { return }
        }
        var rows = UnnestRows()
        rows.add("job", "bigint", starts.map { .init($0.job) })
        rows.add("from_chars", "bigint", starts.map { .init($0.fromChars) })
        rows.add("method", "text", starts.map { .init($0.continuation?.method) })
        rows.add("reason", "text", starts.map { .init($0.continuation?.reason) })
        rows.add("t", "double precision", starts.map { .init($0.t) })
        let me = rows.arguments.add(runnerID)
        var numbers: [Int64: Int] = [:]
        // Without the lease a job is not updated, and no attempt begins for it.
        try db.query("""
            WITH s AS (SELECT * FROM \(rows.table("s"))),
                 started AS (UPDATE jobs SET attempts = jobs.attempts + 1, updated_at = s.t FROM s
                             WHERE jobs.id = s.job AND jobs.lease_owner = \(me)::text
                             RETURNING jobs.id, jobs.attempts)
            INSERT INTO attempts (job_id, number, runner, started_at, continued_from_chars, continuation, continuation_reason)
            SELECT s.job, started.attempts, \(me)::text, s.t, s.from_chars, s.method, s.reason FROM started JOIN s ON s.job = started.id
            RETURNING job_id, number
            """, rows.arguments.values, prepared: true) { numbers[$0.int64(0)!] = $0.int(1)! }
        for s in starts {
            if let number = numbers[s.job] {
                results[s.index] = .success(.attempt(number))
                unconfirmedStarts[s.job] = number
            } else {
                results[s.index] = .failure(LeaseLost(job: s.job))
            }
        }
    }

    // MARK: Successes

    private static func complete(_ writes: [(index: Int, write: GroupedWrite)], runnerID: String, db: PostgresConnection,
                                 results: inout [Result<GroupedResult, any Error>?]) throws {
        let completes = writes.compactMap { w -> (index: Int, job: Int64, attempt: Int, outcome: JobOutcome, t: Double)? in
            guard case let .complete(job, attempt, outcome, t) = w.write.kind else { return nil }
            return (w.index, job, attempt, outcome, t)
        }
        guard !completes.isEmpty else { return }
        let o = completes.map(\.outcome)
        var rows = UnnestRows()
        rows.add("job", "bigint", completes.map { .init($0.job) })
        rows.add("output", "text", o.map { .init($0.output) })
        rows.add("tool_calls", "text", o.map { .init($0.toolCalls) })
        rows.add("finish_reason", "text", o.map { .init($0.finishReason) })
        rows.add("provider_finish_reason", "text", o.map { .init($0.providerFinishReason) })
        rows.add("response", "text", o.map { .init($0.response) })
        rows.add("prompt_tokens", "bigint", o.map { .init($0.promptTokens) })
        rows.add("completion_tokens", "bigint", o.map { .init($0.completionTokens) })
        rows.add("total_tokens", "bigint", o.map { o in .init(o.promptTokens.flatMap { p in o.completionTokens.map { p + $0 } }) })
        rows.add("first_token_ms", "bigint", o.map { .init($0.firstTokenMs) })
        rows.add("duration_ms", "bigint", o.map { .init($0.durationMs) })
        rows.add("http_status", "integer", o.map { .init($0.httpStatus) })
        rows.add("request_id", "text", o.map { .init($0.requestID) })
        rows.add("cached_prompt_tokens", "bigint", o.map { .init($0.cachedPromptTokens) })
        rows.add("cache_write_tokens", "bigint", o.map { .init($0.cacheWriteTokens) })
        rows.add("reasoning_tokens", "bigint", o.map { .init($0.reasoningTokens) })
        rows.add("t", "double precision", completes.map { .init($0.t) })
        rows.add("reasoning", "text", o.map { .init($0.reasoning) })
        rows.add("bytes_received", "bigint", o.map { .init($0.bytesReceived) })
        for (column, i) in zip(AttemptTimings.columns, AttemptTimings.columns.indices) where column != "first_token_ms" {
            rows.add(column, PostgresSchema.timingType(column), o.map { PostgresValue($0.timings.values[i]) })
        }
        rows.add("request_key", "text", o.map { .init($0.requestKey?.value) })
        rows.add("request_samples", "integer", o.map { .init($0.requestKey?.samples) })
        rows.add("embedding", "text", o.map { .init($0.embedding.map { byteaText($0.float32LittleEndian) }) })
        rows.add("dimensions", "integer", o.map { .init($0.embedding?.dimensions) })
        let timings = AttemptTimings.columns.filter { $0 != "first_token_ms" }.map { "\($0) = c.\($0)" }.joined(separator: ", ")
        let me = rows.arguments.add(runnerID)
        var held: Set<Int64> = []
        try db.query("""
            UPDATE jobs SET state = 'succeeded', output = c.output, tool_calls = c.tool_calls, finish_reason = c.finish_reason,
                   provider_finish_reason = c.provider_finish_reason, response = c.response, prompt_tokens = c.prompt_tokens,
                   completion_tokens = c.completion_tokens, total_tokens = c.total_tokens, first_token_ms = c.first_token_ms,
                   duration_ms = c.duration_ms, http_status = c.http_status, request_id = c.request_id,
                   error_kind = NULL, error_message = NULL, error_body = NULL, partial_output = NULL, partial_reasoning = NULL, partial_choices = NULL,
                   cached_prompt_tokens = c.cached_prompt_tokens, cache_write_tokens = c.cache_write_tokens,
                   reasoning_tokens = c.reasoning_tokens,
                   partial_tokens = NULL, not_before = NULL, lease_owner = NULL, lease_expires_at = NULL,
                   finished_at = c.t, updated_at = c.t, reasoning = c.reasoning, bytes_received = c.bytes_received, \(timings),
                   request_key = coalesce(c.request_key, jobs.request_key), request_samples = coalesce(c.request_samples, jobs.request_samples),
                   embedding = c.embedding::bytea, dimensions = c.dimensions
            FROM \(rows.table("c"))
            WHERE jobs.id = c.job AND jobs.lease_owner = \(me) AND jobs.state = 'running'
            RETURNING jobs.id
            """, rows.arguments.values, prepared: true) { held.insert($0.int64(0)!) }
        try endAttempts(completes.filter { held.contains($0.job) }.map { c in
            AttemptEndRow(job: c.job, attempt: c.attempt, endedAt: c.t, outcome: AttemptOutcome.succeeded.rawValue, httpStatus: c.outcome.httpStatus,
                          errorKind: nil, errorMessage: nil, bytesReceived: c.outcome.bytesReceived, charsReceived: c.outcome.charsReceived,
                          requestID: c.outcome.requestID, receivedText: nil, timings: c.outcome.timings, charge: c.outcome.charge)
        }, db: db)
        for c in completes {
            if held.contains(c.job) {
                results[c.index] = .success(.leaseHeld(true))
                continue
            }
            // This runner's own success, committed by an earlier try whose COMMIT's answer was lost.
            if try db.queryOne("SELECT 1 FROM attempts WHERE job_id = $1 AND number = $2 AND runner = $3 AND outcome = 'succeeded'",
                               [.init(c.job), .init(c.attempt), .init(runnerID)], { _ in true }) == true {
                results[c.index] = .success(.leaseHeld(true))
                continue
            }
            // Another runner took the job (our lease expired): its result stands, ours is dropped.
            try db.run("""
                UPDATE attempts SET ended_at = $1, outcome = 'lease_lost', error_kind = 'lease_lost',
                       error_message = 'the lease expired before the result was written; another runner took the job'
                WHERE job_id = $2 AND number = $3
                """, [.init(c.t), .init(c.job), .init(c.attempt)])
            try record(c.outcome.charge, job: c.job, attempt: c.attempt, db: db)  // paid for all the same
            results[c.index] = .success(.leaseHeld(false))
        }
    }

    // MARK: Attempts that did not succeed

    private static func end(_ writes: [(index: Int, write: GroupedWrite)], runnerID: String, db: PostgresConnection,
                            results: inout [Result<GroupedResult, any Error>?]) throws {
        let ends = writes.compactMap {
            w -> (index: Int, job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                  finalState: JobState.Final, countsAsAttempt: Bool, t: Double, afterLostConnection: Bool)? in
            guard case let .end(job, attempt, failure, outcome, retryAt, finalState, countsAsAttempt, t) = w.write.kind else { return nil }
            return (w.index, job, attempt, failure, outcome, retryAt, finalState, countsAsAttempt, t, w.write.afterLostConnection)
        }
        guard !ends.isEmpty else { return }
        let f = ends.map(\.failure)
        var rows = UnnestRows()
        rows.add("job", "bigint", ends.map { .init($0.job) })
        rows.add("state", "text", ends.map { .init(($0.retryAt == nil ? $0.finalState.state : .pending).rawValue) })
        rows.add("retry_at", "double precision", ends.map { .init($0.retryAt) })
        rows.add("kind", "text", f.map { .init($0.kind.rawValue) })
        rows.add("message", "text", f.map { .init($0.message) })
        rows.add("http_status", "integer", f.map { .init($0.httpStatus) })
        rows.add("request_id", "text", f.map { .init($0.requestID) })
        rows.add("discards", "boolean", f.map { .init($0.discardsPartial) })
        rows.add("kept", "text", f.map { .init($0.keptPartial) })
        rows.add("kept_tokens", "bigint", f.map { .init($0.keptPartialTokens) })
        rows.add("kept_reasoning", "text", f.map { .init($0.keptReasoning) })
        rows.add("kept_choices", "text", f.map { .init($0.keptChoices) })
        rows.add("spent", "bigint", f.map { .init($0.spentPromptTokens) })
        rows.add("finished_at", "double precision", ends.map { .init($0.retryAt == nil ? $0.t : nil) })
        rows.add("t", "double precision", ends.map { .init($0.t) })
        rows.add("not_counted", "integer", ends.map { .init($0.countsAsAttempt ? 0 : 1) })
        rows.add("error_body", "text", f.map { .init($0.errorBody) })
        let me = rows.arguments.add(runnerID)
        var held: Set<Int64> = []
        try db.query("""
            UPDATE jobs SET state = CASE WHEN e.state = 'pending' THEN \(requeuedState) ELSE e.state END,
                   not_before = \(Self.serverClock) + (e.retry_at - e.t), error_kind = e.kind, error_message = e.message, http_status = e.http_status,
                   request_id = e.request_id,
                   partial_output = CASE WHEN e.discards THEN NULL ELSE coalesce(e.kept, jobs.partial_output) END,
                   partial_tokens = CASE WHEN e.discards THEN NULL WHEN e.kept IS NULL THEN jobs.partial_tokens ELSE e.kept_tokens END,
                   partial_reasoning = CASE WHEN e.discards THEN NULL WHEN e.kept IS NULL THEN jobs.partial_reasoning ELSE e.kept_reasoning END,
                   partial_choices = CASE WHEN e.discards THEN NULL WHEN e.kept IS NULL THEN jobs.partial_choices ELSE e.kept_choices END,
                   spent_prompt_tokens = e.spent, lease_owner = NULL, lease_expires_at = NULL,
                   finished_at = e.finished_at, updated_at = e.t, attempt_base = jobs.attempt_base + e.not_counted, error_body = e.error_body
            FROM \(rows.table("e"))
            WHERE jobs.id = e.job AND jobs.lease_owner = \(me)
            RETURNING jobs.id
            """, rows.arguments.values, prepared: true) { held.insert($0.int64(0)!) }
        var written = ends
        // An end tried before whose COMMIT may have landed finds its job released, as a lost lease
        // would: the end it wrote then (this runner's, at its time) is left as it is.
        let unsure = ends.filter { !held.contains($0.job) && $0.afterLostConnection }
        if !unsure.isEmpty {
            var landed: Set<Int64> = []
            try db.query("""
                SELECT a.job_id FROM attempts a JOIN unnest($1::bigint[], $2::integer[], $3::double precision[]) AS u(job, number, t)
                  ON a.job_id = u.job AND a.number = u.number AND a.ended_at = u.t
                WHERE a.runner = $4
                """, [.init(unsure.map(\.job)), .init(unsure.map(\.attempt)), .init(unsure.map(\.t)), .init(runnerID)]) {
                landed.insert($0.int64(0)!)
            }
            written.removeAll { landed.contains($0.job) }
        }
        try endAttempts(written.map { e in
            let end = AttemptEnd(outcome: e.outcome, failure: e.failure, leaseHeld: held.contains(e.job))
            return AttemptEndRow(job: e.job, attempt: e.attempt, endedAt: e.t, outcome: end.outcome.rawValue, httpStatus: e.failure.httpStatus,
                                 errorKind: end.kind, errorMessage: end.message, bytesReceived: e.failure.bytesReceived,
                                 charsReceived: e.failure.charsReceived, requestID: e.failure.requestID, receivedText: e.failure.receivedText,
                                 timings: e.failure.timings, charge: e.failure.charge)
        }, db: db)
        for e in ends { results[e.index] = .success(.done) }
    }

    // MARK: Attempt rows

    /// How one attempt ended, and what it was billed.
    struct AttemptEndRow {
        let job: Int64
        let attempt: Int
        let endedAt: Double
        let outcome: String
        let httpStatus: Int?
        let errorKind: String?
        let errorMessage: String?
        let bytesReceived: Int
        let charsReceived: Int
        let requestID: String?
        let receivedText: String?
        let timings: AttemptTimings
        let charge: AttemptCharge?
    }

    /// Ends many attempts in one statement, each with its charge in the same row update (the
    /// charge only where the attempt has none yet, as `record` writes it): the `attempts_keep_costs`
    /// trigger adds it to the job's cost and the batch's totals.
    static func endAttempts(_ ends: [AttemptEndRow], db: PostgresConnection) throws {
        guard !ends.isEmpty else { return }
        var rows = UnnestRows()
        rows.add("job", "bigint", ends.map { .init($0.job) })
        rows.add("number", "integer", ends.map { .init($0.attempt) })
        rows.add("t", "double precision", ends.map { .init($0.endedAt) })
        rows.add("outcome", "text", ends.map { .init($0.outcome) })
        rows.add("http_status", "integer", ends.map { .init($0.httpStatus) })
        rows.add("error_kind", "text", ends.map { .init($0.errorKind) })
        rows.add("error_message", "text", ends.map { .init($0.errorMessage) })
        rows.add("bytes_received", "bigint", ends.map { .init($0.bytesReceived) })
        rows.add("chars_received", "bigint", ends.map { .init($0.charsReceived) })
        rows.add("request_id", "text", ends.map { .init($0.requestID) })
        rows.add("received_text", "text", ends.map { .init($0.receivedText) })
        for (i, column) in AttemptTimings.columns.enumerated() {
            rows.add(column, PostgresSchema.timingType(column), ends.map { PostgresValue($0.timings.values[i]) })
        }
        rows.add("charged", "boolean", ends.map { .init($0.charge != nil) })
        let charges = ends.map(\.charge)
        let chargeColumns: [(String, String, (AttemptCharge) -> PostgresValue)] = [
            ("prompt_tokens", "bigint", { .init($0.usage.promptTokens) }),
            ("cached_prompt_tokens", "bigint", { .init($0.usage.cachedPromptTokens) }),
            ("cache_write_tokens", "bigint", { .init($0.usage.cacheWriteTokens) }),
            ("completion_tokens", "bigint", { .init($0.usage.completionTokens) }),
            ("reasoning_tokens", "bigint", { .init($0.usage.reasoningTokens) }),
            ("usage_estimated", "integer", { .init($0.estimated) }),
            ("cost_usd", "double precision", { .init($0.costUSD) }),
        ]
        for (column, type, value) in chargeColumns { rows.add(column, type, charges.map { $0.map(value) ?? .null }) }
        let timings = AttemptTimings.columns.map { "\($0) = e.\($0)" }.joined(separator: ", ")
        let charged = chargeColumns.map { c in
            "\(c.0) = CASE WHEN e.charged AND a.prompt_tokens IS NULL THEN e.\(c.0) ELSE a.\(c.0) END"
        }.joined(separator: ", ")
        try db.run("""
            UPDATE attempts a SET ended_at = e.t, outcome = e.outcome, http_status = e.http_status, error_kind = e.error_kind,
                   error_message = e.error_message, bytes_received = e.bytes_received, chars_received = e.chars_received,
                   request_id = e.request_id, received_text = e.received_text, \(timings), \(charged)
            FROM \(rows.table("e"))
            WHERE a.job_id = e.job AND a.number = e.number
            """, rows.arguments.values, prepared: true)
    }
}

/// Rows given to one statement as columns: one array parameter per column, turned back into rows
/// by `unnest(…) AS alias(columns)`. More parameters can follow (`arguments.add`).
struct UnnestRows {
    var arguments = PostgresArguments()
    private var columns: [(name: String, sql: String)] = []

    mutating func add(_ name: String, _ type: String, _ values: [PostgresValue]) {
        columns.append((name, "\(arguments.add(values))::\(type)[]"))
    }

    /// `unnest($1::bigint[], …) AS alias(job, …)`.
    func table(_ alias: String) -> String {
        "unnest(\(columns.map(\.sql).joined(separator: ", "))) AS \(alias)(\(columns.map(\.name).joined(separator: ", ")))"
    }
}
