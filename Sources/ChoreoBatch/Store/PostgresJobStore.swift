public import ChoreoPostgres
public import ChoreoAI
import ChoreoSQLite
import Foundation

/// The PostgreSQL `JobStore` (issue 15, docs/postgres.md): the same leases, attempts and outputs as
/// `JobQueue`, on a database that runners on many machines share.
///
/// One actor owns one connection, as `JobQueue` owns its SQLite one. Claims lock the rows they
/// take `FOR UPDATE SKIP LOCKED`, so runners claiming at once take different jobs without waiting
/// for each other; every later write checks the lease is still this runner's. A flush of partial
/// output is one statement whatever its size (`UNNEST` of the ids, texts and token counts).
///
/// The writes every job makes (`startAttempt`, `complete`, `endAttempt`) are group-committed:
/// those that arrive together share one transaction and one statement per kind
/// (`PostgresJobStore+GroupCommit`).
///
/// `startAttempt`, `complete`, `endAttempt` and `completeFromCache` wait out a lost connection
/// (reconnecting, backing off from 50 ms to 1 s) until they commit or the calling task is
/// cancelled; every requirement runs again when it lost a deadlock or serialization race (the
/// counter triggers lock `batch_counts` rows, which concurrent transactions may reach in
/// different orders).
public actor PostgresJobStore: JobStore {
    private let db: PostgresConnection
    public nonisolated let runnerID: String
    /// For `abandon`'s connection of its own.
    private nonisolated let url: PostgresURL
    /// Group commit of the per-job writes (`GroupedWrite`).
    private let groups = WriteGroups<GroupedWrite, GroupedResult>()
    /// The attempt numbers of starts written in a transaction whose commit was not confirmed, by
    /// job: a retry finds its attempt there if the commit landed after all.
    private var unconfirmedStarts: [Int64: Int] = [:]
    /// Groups and writes committed so far (tests, diagnostics).
    private(set) var groupCommitStats = GroupCommitStats()
    /// Tests: runs after each COMMIT of a write (a group's, or `write`'s); what it throws is taken as
    /// the COMMIT's own failure (a connection that broke before its answer arrived).
    var afterCommit: (() throws -> Void)?

    /// Connects to `url` and brings its schema up to date (`PostgresSchema`).
    ///
    /// `leaseSeconds` bounds how long the server lets this runner's session sit in a transaction
    /// without a word from it: a quarter of the lease (`idle_in_transaction_session_timeout`).
    /// A runner cut off in the middle of a transaction (a partition) would otherwise keep its row
    /// locks until the server's TCP keepalive noticed, hours later, and every other runner waiting
    /// on those rows (a batch's counters, a provider's shared budget) would stall, until their own
    /// lease renewals failed and they stopped their streams too (found by the netns soak). The
    /// server ends such a session instead and its locks go; this runner's write is then retried
    /// on a new connection like any lost connection's.
    public init(url: PostgresURL, runnerID: String, leaseSeconds: Double = 30) throws {
        try self.init(url: url, runnerID: runnerID, leaseSeconds: leaseSeconds, clockOffset: 0)
    }

    /// `clockOffset`: how far this machine's clock is off, in seconds (tests of runners whose
    /// clocks disagree; see `serverClock`).
    init(url: PostgresURL, runnerID: String, leaseSeconds: Double, clockOffset: Double) throws {
        let db = try PostgresConnection(url: url, serverSettings: Self.sessionSettings(leaseSeconds: leaseSeconds))
        try PostgresSchema.migrator.migrate(db, now: Date().timeIntervalSince1970)
        self.db = db
        self.url = url
        self.runnerID = runnerID
        self.clockOffset = clockOffset
    }

    private let clockOffset: Double
    /// This machine's clock, for the times the store records for people to read (when a job
    /// started and ended); a retry's delay is counted from it and added to `serverClock`.
    private var now: Double { Date().timeIntervalSince1970 + clockOffset }

    /// The database's clock, in seconds since 1970: what leases, the times failed jobs may be
    /// retried (`not_before`) and the providers' shared budgets are set and compared by. Runners
    /// on machines whose clocks disagree then agree on when a lease passes and a backoff ends: with
    /// each runner's own clock, one 40 s ahead took every job another runner had leased for 30 s
    /// as soon as it was claimed, and streamed it a second time.
    static let serverClock = "extract(epoch FROM clock_timestamp())::float8"

    /// The server's settings for a runner's session (see `init`).
    static func sessionSettings(leaseSeconds: Double) -> [String: String] {
        ["idle_in_transaction_session_timeout": "\(max(500, Int(leaseSeconds * 250)))ms"]
    }

    /// The states of a job or a batch that is not over yet.
    static let live = "IN ('pending', 'running')"
    /// The state of a job given back to the queue: pending, unless its batch was cancelled meanwhile.
    static let requeuedState = JobQueue.requeuedState

    // MARK: Running statements

    /// Runs `body` (in a transaction unless `transaction` is false: a single statement is atomic on
    /// its own). A transaction that lost a deadlock or serialization race runs again; with
    /// `untilCommitted`, so does one whose connection was lost, after reconnecting, until the
    /// calling task is cancelled. Without it, a lost connection fails the call, and the next call
    /// reconnects.
    @discardableResult
    func write<T>(untilCommitted: Bool = false, transaction: Bool = true,
                  _ body: (PostgresConnection) throws -> T) async throws -> T {
        try await retrying(untilCommitted: untilCommitted) {
            if !db.isConnected { try db.reconnect() }
            guard transaction else { return try body(db) }
            let result = try db.transaction { try body(db) }
            try afterCommit?()
            return result
        }
    }

    /// The retry policy of every write: a lost deadlock or serialization race is tried again (up to
    /// 20 times); with `untilCommitted`, so is a lost connection (`lostConnection` is told first),
    /// until the calling task is cancelled; backing off from 50 ms to 1 s.
    private func retrying<T>(untilCommitted: Bool, lostConnection: () -> Void = {},
                             _ attempt: () async throws -> T) async throws -> T {
        var pause = 0.05
        var races = 0
        while true {
            do {
                return try await attempt()
            } catch let error as PostgresError
                        where (error.isTransient && races < 20) || (untilCommitted && error.isConnectionFailure && !Task.isCancelled) {
                if error.isTransient { races += 1 }
                if error.isConnectionFailure { lostConnection() }
                try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                pause = min(1, pause * 2)
            }
        }
    }

    /// A read: one statement, reconnecting first if the connection was lost.
    func read<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        if !db.isConnected { try db.reconnect() }
        return try body(db)
    }

    // MARK: The runner

    public func registerRunner() async throws {
        let t = now
        try await write(transaction: false) { db in
            try db.run("""
                INSERT INTO runners (id, pid, host, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at,
                  heartbeat_at = excluded.heartbeat_at, stopped_at = NULL
                """, [.init(runnerID), .init(Int(getpid())), .init(ProcessInfo.processInfo.hostName), .init(t)])
        }
    }

    public func unregisterRunner() async throws {
        let t = now
        try await write(transaction: false) { db in
            try db.run("UPDATE runners SET stopped_at = $1 WHERE id = $2", [.init(t), .init(runnerID)])
        }
    }

    public func heartbeat(leaseSeconds: Double) async throws {
        let t = now
        try await write { db in
            try db.run("UPDATE jobs SET lease_expires_at = \(Self.serverClock) + $1 WHERE lease_owner = $2 AND state = 'running'",
                       [.init(leaseSeconds), .init(runnerID)], prepared: true)
            try db.run("UPDATE runners SET heartbeat_at = $1 WHERE id = $2", [.init(t), .init(runnerID)], prepared: true)
        }
    }

    /// A PostgreSQL database cannot be deleted or replaced under the runner the way a file can.
    public func checkStorage() async throws {}
    /// Every commit is durable already.
    public func checkpoint() async throws {}

    // MARK: Leases

    public func claim(limit: Int, leaseSeconds: Double, batch: String?, excludingModels: Set<String>,
                      distinctRequests: DistinctRequests?) async throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        let t = now
        let jobs = try await write { db -> [ClaimedJob] in
            // Pending jobs in id order on `jobs_runnable`; rows another runner is claiming right now
            // are locked, and skipped rather than waited for.
            var a = PostgresArguments()
            var ids: [Int64] = []
            var keysTaken: Set<String> = []
            let scope = Self.scope(&a, batch: batch, excludingModels: excludingModels)
            var distinct = ""
            if let d = distinctRequests {
                distinct = """
                    AND NOT (request_key IS NOT NULL AND (request_samples = 0 OR \(a.add(d.includingSampled))) AND request_key IN
                             (SELECT request_key FROM jobs WHERE state = 'running' AND request_key IS NOT NULL))
                    """
            }
            // Claim order (`JobQueue.claimOrder`): highest priority first, then oldest.
            var candidates: [(priority: Int64, id: Int64)] = []
            try db.query("""
                SELECT id, request_key, request_samples, priority FROM jobs
                WHERE state = 'pending' AND (not_before IS NULL OR not_before <= \(Self.serverClock)) \(scope) \(distinct)
                ORDER BY priority DESC, id LIMIT \(a.add(limit)) FOR UPDATE SKIP LOCKED
                """, a.values, prepared: true) { row in
                if let d = distinctRequests, let key = row.string(1), row.int(2) == 0 || d.includingSampled,
                   !keysTaken.insert(key).inserted {
                    return  // the same request as an earlier candidate: it waits for that one's answer
                }
                candidates.append((row.int64(3)!, row.int64(0)!))
            }
            do {
                // A job whose lease expired is taken back, unless it is this runner's own (a late
                // heartbeat: it is still in flight here).
                var b = PostgresArguments()
                let scope = Self.scope(&b, batch: batch, excludingModels: excludingModels)
                try db.query("""
                    SELECT id, priority FROM jobs
                    WHERE state = 'running' AND lease_expires_at < \(Self.serverClock) AND lease_owner IS DISTINCT FROM \(b.add(runnerID)) \(scope)
                    ORDER BY priority DESC, id LIMIT \(b.add(limit)) FOR UPDATE SKIP LOCKED
                    """, b.values, prepared: true) { candidates.append(($0.int64(1)!, $0.int64(0)!)) }
            }
            // Merged in claim order: a job a dead runner held goes back in line by its priority.
            ids = candidates.sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }.prefix(limit).map(\.id)
            guard !ids.isEmpty else { return [] }
            var claimed: [ClaimedJob] = []
            try db.query("""
                UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = \(Self.serverClock) + $2,
                       started_at = coalesce(started_at, $3), updated_at = $3
                WHERE id = ANY($4::bigint[])
                RETURNING id, batch_id, custom_id, model, request, attempts, attempt_base,
                          coalesce(partial_output, ''), coalesce(partial_tokens, 0), coalesce(spent_prompt_tokens, 0),
                          timeout_seconds, coalesce(partial_reasoning, ''), url
                """, [.init(runnerID), .init(leaseSeconds), .init(t), .init(ids)], prepared: true) { row in
                claimed.append(ClaimedJob(
                    id: row.int64(0)!, batchID: row.string(1)!, customID: row.string(2)!, model: row.string(3)!,
                    request: row.string(4)!, attempts: row.int(5)!, attemptBase: row.int(6)!, partialOutput: row.string(7)!,
                    partialTokens: row.int(8)!, spentPromptTokens: row.int(9)!, timeout: row.double(10), partialReasoning: row.string(11)!,
                    endpoint: JobEndpoint(stored: row.string(12))))
            }
            // Attempts of a runner that died never got an end: close them now, so history is honest.
            try db.run("""
                UPDATE attempts SET ended_at = $1, outcome = 'interrupted', error_kind = coalesce(error_kind, 'runner_lost'),
                       error_message = coalesce(error_message, 'the runner stopped without ending this attempt (killed or crashed)')
                WHERE job_id = ANY($2::bigint[]) AND ended_at IS NULL
                """, [.init(t), .init(ids)], prepared: true)
            try db.run("UPDATE batches SET state = 'running' WHERE id = ANY($1::text[]) AND state = 'pending'",
                       [.init(Set(claimed.map(\.batchID)).sorted())], prepared: true)
            // In claim order, as `ids` is (RETURNING gives no order).
            let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
            return claimed.sorted { position[$0.id]! < position[$1.id]! }
        }
        return jobs
    }

    /// `AND …` keeping a claim (or an outlook) to jobs of live batches, of `batch` when given, of
    /// no model in `excludingModels`.
    static func scope(_ a: inout PostgresArguments, batch: String?, excludingModels: Set<String>, column: (String) -> String = { $0 }) -> String {
        var sql = "AND \(column("batch_id")) IN (SELECT id FROM batches WHERE state \(live))"
        if let batch { sql += " AND \(column("batch_id")) = \(a.add(batch))" }
        if !excludingModels.isEmpty { sql += " AND \(column("model")) <> ALL(\(a.add(excludingModels.sorted()))::text[])" }
        return sql
    }

    public func release(job: Int64) async throws {
        try await write(transaction: false) { db in
            try db.run("""
                UPDATE jobs SET state = \(Self.requeuedState), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = $1 AND lease_owner = $2 AND state = 'running'
                """, [.init(job), .init(runnerID)])
        }
    }

    public func releaseAll() async throws {
        try await write(transaction: false) { db in
            try db.run("""
                UPDATE jobs SET state = \(Self.requeuedState), lease_owner = NULL, lease_expires_at = NULL
                WHERE lease_owner = $1 AND state = 'running'
                """, [.init(runnerID)])
        }
    }

    // MARK: Attempts

    /// Each start is submitted on its own, concurrently: the group commit gathers them (a lost
    /// connection is retried write by write, `submit`).
    public func startAttempts(_ starts: [AttemptStart]) async -> [Result<Int, any Error>] {
        let t = now
        return await concurrently(starts.map { GroupedWrite(kind: .start(job: $0.job, continuedFromChars: $0.continuedFromChars,
                                                                         continuation: $0.continuation, at: t)) }) { written in
            guard case .attempt(let number) = written else { preconditionFailure("a start returns an attempt number") }
            return number
        }
    }

    /// One statement for the whole flush, however many jobs: the ids, texts and token counts as
    /// three arrays, joined to `jobs` through `UNNEST`. Rows in id order, so that two flushes
    /// never lock the same rows in opposite orders.
    /// Writes each text whole (`PartialText.headBytes` is SQLite's): TOAST already keeps an
    /// `UPDATE` of the row from rewriting its request. Refuses nothing.
    @discardableResult
    public func savePartials(_ partials: [PartialText]) async throws -> Set<Int64> {
        guard !partials.isEmpty else { return [] }
        try await write(transaction: false) { db in
            try Self.savePartials(partials, at: now, runnerID: runnerID, db: db)
        }
        return []
    }

    static func savePartials(_ partials: [PartialText], at t: Double, runnerID: String, db: PostgresConnection) throws {
        let sorted = partials.sorted { $0.job < $1.job }
        try db.run("""
            UPDATE jobs SET partial_output = p.text, partial_tokens = p.tokens, partial_choices = p.choices, updated_at = $1
            FROM unnest($2::bigint[], $3::text[], $4::bigint[], $6::text[]) AS p(id, text, tokens, choices)
            WHERE jobs.id = p.id AND jobs.lease_owner = $5 AND jobs.state = 'running'
            """, [.init(t), .init(sorted.map(\.job)), .init(sorted.map(\.text)), .init(sorted.map(\.tokens)), .init(runnerID),
                  .init(sorted.map(\.choices))],
               prepared: true)
    }

    /// Each success is submitted on its own, concurrently: the group commit gathers them (a lost
    /// connection is retried write by write, `submit`).
    public func complete(_ successes: [JobSuccess]) async -> [Result<Bool, any Error>] {
        let t = now
        return await concurrently(successes.map { GroupedWrite(kind: .complete(job: $0.job, attempt: $0.attempt, outcome: $0.outcome,
                                                                               at: $0.outcome.endedAt ?? t)) }) { written in
            guard case .leaseHeld(let held) = written else { preconditionFailure("a success returns whether the lease was held") }
            return held
        }
    }

    /// Submits each write on its own task, so that the group commit gathers them, and returns each
    /// one's result as `read` takes it, in their order.
    private func concurrently<T: Sendable>(_ writes: [GroupedWrite],
                                           _ read: @escaping @Sendable (GroupedResult) -> T) async -> [Result<T, any Error>] {
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            for (k, write) in writes.enumerated() {
                group.addTask {
                    do { return (k, .success(read(try await self.submit(write)))) } catch { return (k, .failure(error)) }
                }
            }
            var results = [Result<T, any Error>?](repeating: nil, count: writes.count)
            for await (k, result) in group { results[k] = result }
            return results.map { $0! }
        }
    }

    public func endAttempt(job: Int64, attempt: Int, failure f: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                           finalState: JobState.Final, countsAsAttempt: Bool) async throws {
        _ = try await submit(GroupedWrite(kind: .end(job: job, attempt: attempt, failure: f, outcome: outcome, retryAt: retryAt,
                                                     finalState: finalState, countsAsAttempt: countsAsAttempt, at: f.endedAt ?? now)))
    }

    /// Runs `write` in the next group (`WriteGroups`), until it commits: a group that lost a race
    /// runs again (up to 20 times), a lost connection is waited out (reconnecting, backing off
    /// from 50 ms to 1 s) until the calling task is cancelled, as `write(untilCommitted:)` does.
    private func submit(_ write: GroupedWrite) async throws -> GroupedResult {
        var write = write
        return try await retrying(untilCommitted: true, lostConnection: { write.afterLostConnection = true }) {
            try await groups.submit(write, isolation: self) { commit($0) }
        }
    }

    /// One transaction for the whole group. Synchronous: nothing else runs on the actor meanwhile.
    /// A lost race or connection fails every write of the group (each caller tries again); any
    /// other failure runs the writes again one per transaction, so only the write at fault fails.
    private func commit(_ group: [GroupedWrite]) -> [Result<GroupedResult, any Error>] {
        do {
            if !db.isConnected { try db.reconnect() }
            let results = try db.transaction {
                try Self.apply(group, runnerID: runnerID, unconfirmedStarts: &unconfirmedStarts, db: db)
            }
            try afterCommit?()
            for write in group { if case .start(let job, _, _, _) = write.kind { unconfirmedStarts[job] = nil } }
            groupCommitStats.committed(group.count)
            return results
        } catch let error as PostgresError where error.isTransient || error.isConnectionFailure {
            return group.map { _ in .failure(error) }
        } catch {
            guard group.count > 1 else { return [.failure(error)] }
            return group.map { commit([$0])[0] }
        }
    }

    /// Bytes as bytea's text input (`\\x` and hex), for a text-format parameter.
    static func byteaText(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `encode(…, 'hex')`'s text.
    static func bytes(hex: String) -> [UInt8] {
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c >= 65 ? c - 55 : c - 48 }
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    /// Writes `charge` on the attempt row; the `attempts_keep_costs` trigger adds it to the job's
    /// cost and the batch's per-model totals (as `AttemptCharge.assignments` do on SQLite).
    static func record(_ charge: AttemptCharge?, job: Int64, attempt: Int, db: PostgresConnection) throws {
        guard let c = charge else { return }
        try db.run("""
            UPDATE attempts SET prompt_tokens = $1, cached_prompt_tokens = $2, cache_write_tokens = $3, completion_tokens = $4,
                   reasoning_tokens = $5, usage_estimated = $6, cost_usd = $7
            WHERE job_id = $8 AND number = $9 AND prompt_tokens IS NULL
            """, [.init(c.usage.promptTokens), .init(c.usage.cachedPromptTokens), .init(c.usage.cacheWriteTokens),
                  .init(c.usage.completionTokens), .init(c.usage.reasoningTokens), .init(c.estimated), .init(c.costUSD),
                  .init(job), .init(attempt)])
    }

    public func endWithoutAttempt(job: Int64, state: JobState.Final, kind: FailureKind, message: String) async throws {
        let t = now
        try await write(transaction: false) { db in
            try db.run("""
                UPDATE jobs SET state = $1, error_kind = $2, error_message = $3, lease_owner = NULL, lease_expires_at = NULL,
                       finished_at = $4, updated_at = $4
                WHERE id = $5 AND lease_owner = $6
                """, [.init(state.state.rawValue), .init(kind.rawValue), .init(message), .init(t), .init(job), .init(runnerID)])
        }
    }

    /// On a connection of its own (the store's may be what hangs), in one transaction.
    public nonisolated func abandon(partials: [PartialText]) throws {
        let db = try PostgresConnection(url: url)
        let t = Date().timeIntervalSince1970
        try db.transaction {
            if !partials.isEmpty { try Self.savePartials(partials, at: t, runnerID: runnerID, db: db) }
            try db.run("""
                UPDATE attempts SET ended_at = $1, outcome = 'interrupted', error_kind = 'interrupted',
                       error_message = 'the runner was aborted (second signal or grace period) during this attempt'
                WHERE ended_at IS NULL AND runner = $2
                  AND job_id IN (SELECT id FROM jobs WHERE lease_owner = $2 AND state = 'running')
                """, [.init(t), .init(runnerID)])
            try db.run("""
                UPDATE jobs SET state = \(Self.requeuedState), lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
                WHERE lease_owner = $2 AND state = 'running'
                """, [.init(t), .init(runnerID)])
            try db.run("UPDATE runners SET stopped_at = $1 WHERE id = $2", [.init(t), .init(runnerID)])
        }
    }

    // MARK: Reading the queue

    public func outlook(batch: String?, excludingModels: Set<String>) async throws -> QueueOutlook {
        let t = now
        return try read { db in
            var a = PostgresArguments()
            let me = a.add(runnerID)
            let scope = Self.scope(&a, batch: batch, excludingModels: excludingModels) { "j.\($0)" }
            // A retry's time and a lease's end are the database's clock (`serverClock`): when, by this machine's.
            return try db.queryOne("""
                SELECT count(*) FILTER (WHERE j.state = 'pending'), count(*) FILTER (WHERE j.state = 'running' AND j.lease_owner <> \(me)),
                       min(CASE WHEN j.state = 'pending' THEN coalesce(j.not_before - \(Self.serverClock) + \(a.add(t)), 0)
                                WHEN j.state = 'running' THEN j.lease_expires_at - \(Self.serverClock) + \(a.add(t)) END)
                FROM jobs j
                WHERE j.state \(Self.live) \(scope)
                """, a.values) { row in QueueOutlook(pending: row.int(0) ?? 0, heldByOthers: row.int(1) ?? 0, nextWake: row.double(2)) }
                ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
        }
    }

    /// From the counters the trigger keeps (pending jobs are the total minus the rest), as
    /// `JobFigures` reads them on SQLite.
    public func counts(batch: String?) async throws -> [String: Int] {
        try read { db in
            var a = PostgresArguments()
            let filter = batch.map { "AND batch_id = \(a.add($0))" } ?? ""
            var jobs: [String: Int] = [:]
            var counted = 0
            try db.query("SELECT state, sum(jobs) FROM batch_counts WHERE jobs > 0 \(filter) GROUP BY state", a.values) { row in
                jobs[row.string(0) ?? "", default: 0] += row.int(1) ?? 0
                counted += row.int(1) ?? 0
            }
            var b = PostgresArguments()
            let total = try db.queryOne("SELECT coalesce(sum(total_jobs), 0) FROM batches WHERE true \(batch.map { "AND id = \(b.add($0))" } ?? "")",
                                        b.values) { $0.int(0) ?? 0 } ?? 0
            if total > counted { jobs["pending", default: 0] += total - counted }
            return jobs
        }
    }

    public func pendingModels(batch: String?) async throws -> [String: Int] {
        try read { db in
            var a = PostgresArguments()
            let scope = Self.scope(&a, batch: batch, excludingModels: [])
            var out: [String: Int] = [:]
            try db.query("SELECT model, count(*) FROM jobs WHERE state \(Self.live) \(scope) GROUP BY model", a.values) { row in
                out[row.string(0) ?? ""] = row.int(1) ?? 0
            }
            return out
        }
    }

    public func cancelledBatches() async throws -> Set<String> {
        try read { db in
            var cancelled: Set<String> = []
            try db.query("SELECT id FROM batches WHERE state = 'cancelled'") { cancelled.insert($0.string(0) ?? "") }
            return cancelled
        }
    }

    public func batchExists(_ id: String) async throws -> Bool {
        try read { db in
            try db.queryOne("SELECT 1 FROM batches WHERE id = $1 AND state \(Schema.visible)", [.init(id)]) { _ in true } ?? false
        }
    }

    public func completeFinishedBatches() async throws {
        let t = now
        try await write(transaction: false) { db in
            try db.run("""
                UPDATE batches SET state = 'completed', completed_at = $1
                WHERE state \(Self.live)
                  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.batch_id = batches.id AND jobs.state \(Self.live))
                """, [.init(t)])
        }
    }

    // MARK: What runs learn about models

    public func prefillRefusals() async throws -> [String: String] {
        try read { db in
            var out: [String: String] = [:]
            try db.query("SELECT model, message FROM prefill_refusals") { out[$0.string(0) ?? ""] = $0.string(1) ?? "" }
            return out
        }
    }

    public func recordPrefillRefusal(model: String, message: String) async throws {
        let t = now
        try await write(transaction: false) { db in
            try db.run("""
                INSERT INTO prefill_refusals (model, message, learned_at) VALUES ($1, $2, $3)
                ON CONFLICT (model) DO UPDATE SET message = excluded.message, learned_at = excluded.learned_at
                """, [.init(model), .init(message), .init(t)])
        }
    }

    // MARK: The request cache

    /// 2,000 rows a round: read through the partial indexes that hold the rows needing a key
    /// (`jobs_runnable`, `jobs_unkeyed_answers`), keyed here, written back in one `UNNEST` statement.
    public func fillRequestKeys(batch: String?, keyOf: @Sendable (_ model: String, _ request: String, _ url: String?) -> RequestKey?) async throws -> Int {
        var filled = 0
        for walk in 0..<2 {
            var lastID: Int64 = 0
            while true {
                var a = PostgresArguments()
                let after = a.add(lastID)
                let sql = walk == 0
                    ? """
                      SELECT id, model, request, url FROM jobs
                      WHERE id > \(after) AND state = 'pending' AND request_key IS NULL \(Self.scope(&a, batch: batch, excludingModels: []))
                      ORDER BY id LIMIT 2000
                      """
                    : """
                      SELECT id, model, request, url FROM jobs
                      WHERE id > \(after) AND state = 'succeeded' AND request_key IS NULL AND \(CachedAnswer.reusableAnswerSQL())
                      ORDER BY id LIMIT 2000
                      """
                var rows: [(id: Int64, key: RequestKey?)] = []
                try read { db in
                    try db.query(sql, a.values) { row in rows.append((row.int64(0)!, keyOf(row.string(1) ?? "", row.string(2) ?? "", row.string(3)))) }
                }
                guard let last = rows.last else { break }
                lastID = last.id
                let keyed = rows.compactMap { r in r.key.map { (id: r.id, key: $0) } }
                guard !keyed.isEmpty else { continue }
                filled += try await write(transaction: false) { db in
                    try db.run("""
                        UPDATE jobs SET request_key = k.key, request_samples = k.samples
                        FROM unnest($1::bigint[], $2::text[], $3::integer[]) AS k(id, key, samples)
                        WHERE jobs.id = k.id AND jobs.request_key IS NULL
                        """, [.init(keyed.map(\.id)), .init(keyed.map(\.key.value)), .init(keyed.map(\.key.samples))])
                }
            }
        }
        return filled
    }

    public func cachedAnswers(keys: [String]) async throws -> [String: CachedAnswer] {
        guard !keys.isEmpty else { return [:] }
        return try read { db in
            var found: [String: CachedAnswer] = [:]
            try db.query("""
                SELECT j.request_key, j.output, j.tool_calls, j.finish_reason, j.provider_finish_reason, j.response, j.reasoning,
                       j.request_id, j.batch_id || '/' || j.custom_id, j.cost_usd, encode(j.embedding, 'hex'), j.dimensions
                FROM jobs j
                WHERE j.request_key = ANY($1::text[]) AND j.state = 'succeeded' AND j.cached_from IS NULL
                  AND \(CachedAnswer.reusableAnswerSQL("j.")) AND j.response IS NOT NULL
                ORDER BY j.id DESC
                """, [.init(Set(keys).sorted())]) { row in
                // Descending: the earliest answer of a key is the one kept.
                var answer = CachedAnswer(
                    output: row.string(1), toolCalls: row.string(2), finishReason: row.string(3), providerFinishReason: row.string(4),
                    response: row.string(5)!, reasoning: row.string(6), requestID: row.string(7), source: row.string(8) ?? "",
                    costUSD: row.double(9))
                answer.embedding = row.string(10).map(Self.bytes(hex:))
                answer.dimensions = row.int(11)
                found[row.string(0)!] = answer
            }
            return found
        }
    }

    public func completeFromCache(_ served: [(job: Int64, key: String, answer: CachedAnswer)]) async throws -> [Int64] {
        guard !served.isEmpty else { return [] }
        let t = now
        return try await write(untilCommitted: true) { db in
            var written: [Int64] = []
            for s in served {
                let a = s.answer
                let changed = try db.run("""
                    UPDATE jobs SET state = 'succeeded', output = $1, tool_calls = $2, finish_reason = $3, provider_finish_reason = $4,
                           response = $5, reasoning = $6, request_id = $7, cached_from = $8, cache_saved_usd = $9, request_key = $10,
                           embedding = $14::bytea, dimensions = $15,
                           prompt_tokens = 0, completion_tokens = 0, total_tokens = 0, cost_usd = 0,
                           error_kind = NULL, error_message = NULL, error_body = NULL, partial_output = NULL, partial_tokens = NULL,
                           partial_choices = NULL, http_status = NULL, not_before = NULL, lease_owner = NULL, lease_expires_at = NULL,
                           duration_ms = 0, finished_at = $11, updated_at = $11
                    WHERE id = $12 AND lease_owner = $13 AND state = 'running'
                    """, [.init(a.output), .init(a.toolCalls), .init(a.finishReason), .init(a.providerFinishReason), .init(a.response),
                          .init(a.reasoning), .init(a.requestID), .init(a.source), .init(a.costUSD), .init(s.key),
                          .init(t), .init(s.job), .init(runnerID), .init(a.embedding.map(Self.byteaText)), .init(a.dimensions)])
                if try changed == 1 || Self.landed(s, finishedAt: t, db: db) { written.append(s.job) }
            }
            return written
        }
    }

    /// Whether `served`'s answer is already this job's, written at `finishedAt`: this same call's
    /// earlier try, whose COMMIT landed though its answer was lost (the job is no longer running,
    /// so the UPDATE above matched nothing). Without it the retry reported a served job as lost to
    /// another runner, and the run's summary left it out.
    private static func landed(_ served: (job: Int64, key: String, answer: CachedAnswer), finishedAt: Double,
                               db: PostgresConnection) throws -> Bool {
        try db.queryOne("""
            SELECT 1 FROM jobs WHERE id = $1 AND state = 'succeeded' AND cached_from = $2 AND request_key = $3 AND finished_at = $4
            """, [.init(served.job), .init(served.answer.source), .init(served.key), .init(finishedAt)]) { _ in true } ?? false
    }

    // MARK: Resume

    public func resume(batch: String, all: Bool, retryableKinds: [FailureKind]) async throws -> Int {
        let t = now
        return try await write { db in
            try Self.requeue(batch: batch, all: all, retryableKinds: retryableKinds, now: t, db: db)
        }
    }

    /// `resume`'s statements (`BatchStore.requeue` too), in the caller's transaction.
    static func requeue(batch: String, all: Bool, retryableKinds: [FailureKind], now t: Double, db: PostgresConnection) throws -> Int {
        let n = try db.run("""
            UPDATE jobs SET state = 'pending', attempt_base = attempts, not_before = NULL, finished_at = NULL, updated_at = $1
            WHERE batch_id = $2 AND ((state = 'failed' AND ($3::boolean OR error_kind = ANY($4::text[])))
                  OR (state = 'pending' AND attempts > attempt_base) OR (state = 'running' AND lease_expires_at < \(serverClock)))
            """, [.init(t), .init(batch), .init(all), .init(retryableKinds.map(\.rawValue))])
        try db.run("UPDATE batches SET state = 'pending', completed_at = NULL WHERE id = $1 AND state = 'completed'", [.init(batch)])
        return n
    }
}

/// The arguments of a statement being written: `add` appends a value and returns its placeholder
/// (`$3`), so SQL with optional parts numbers its parameters as it goes.
struct PostgresArguments {
    private(set) var values: [PostgresValue] = []

    mutating func add(_ value: some PostgresEncodable) -> String {
        values.append(PostgresValue(value))
        return "$\(values.count)"
    }
}

extension PostgresValue {
    /// The same value as a SQLite argument (the timings and charges ChoreoBatch builds as `SQLValue`s).
    init(_ value: SQLValue) {
        switch value {
        case .null: self = nil
        case .integer(let v): self.init(v)
        case .real(let v): self.init(v)
        case .text(let v): self.init(v)
        case .blob(let bytes): self.init("\\x" + bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
