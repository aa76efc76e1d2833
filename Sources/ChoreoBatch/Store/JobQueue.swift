import Foundation
public import ChoreoAI
public import ChoreoSQLite

/// A job leased to this runner, with what the scheduler needs to run it.
public struct ClaimedJob: Sendable {
    public let id: Int64
    public let batchID: String
    public let customID: String
    public let model: String
    /// The stored request ("" once its attempt's request went out: `JobExecution.finishing`).
    public internal(set) var request: String
    /// Attempts made so far (all time), and those not counted against `--max-attempts`: the ones
    /// before the last resume and the ones lost to provider outages (`endAttempt(countsAsAttempt: false)`).
    public let attempts: Int
    public let attemptBase: Int
    /// Text kept from interrupted attempts ("" when none).
    public let partialOutput: String
    /// Completion tokens spent producing `partialOutput` (estimated when the stream broke).
    public let partialTokens: Int
    /// Prompt and completion tokens reported by earlier segments that were continued from.
    public let spentPromptTokens: Int
    /// The job's own bound on each attempt's whole time, in seconds (nil: its provider's).
    public let timeout: Double?
    /// The reasoning that came before `partialOutput` ("" when none): a continued answer keeps it.
    public var partialReasoning = ""
    /// What it asks for: a streamed chat completion, or embeddings (sent with others of its kind).
    public var endpoint: JobEndpoint = .chatCompletions
}

/// What is left in the queue.
public struct QueueOutlook: Sendable {
    /// Pending jobs (runnable now or after their backoff).
    public var pending: Int
    /// Jobs leased by other runners.
    public var heldByOthers: Int
    /// The earliest backoff end or lease expiry (unix seconds).
    public var nextWake: Double?
}

/// The final result of a job, written in one transaction with its state change.
public struct JobOutcome: Sendable {
    /// The answer's text (nil for an embeddings job, whose answer is `embedding`).
    public var output: String?
    public var toolCalls: String?
    public var finishReason: String?
    public var providerFinishReason: String?
    public var response: String
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var firstTokenMs: Int?
    public var durationMs: Int
    public var httpStatus: Int
    public var requestID: String?
    public var bytesReceived: Int
    public var charsReceived: Int
    public var timings = AttemptTimings()
    /// The answer's usage details (its segments summed, like the token counts above).
    public var cachedPromptTokens: Int? = nil
    public var cacheWriteTokens: Int? = nil
    public var reasoningTokens: Int? = nil
    /// What this attempt was billed.
    public var charge: AttemptCharge? = nil
    /// The first choice's reasoning (`jobs.reasoning`), never part of `output`.
    public var reasoning: String? = nil
    /// The request's key for the cache (nil: it has none, the stored one stays).
    public var requestKey: RequestKey? = nil
    /// An embeddings job's vectors (`jobs.embedding` as packed float32, `jobs.dimensions`).
    public var embedding: Embeddings? = nil
    /// When the attempt ended, as the runner saw it (nil: when the store writes it). A write may
    /// wait for the database (busy, unreachable): the history keeps when the attempt ended, not
    /// when the database took its end.
    public var endedAt: Double? = nil
}

/// How an attempt that did not succeed ended.
public struct AttemptFailure: Sendable {
    public var kind: FailureKind
    public var message: String
    public var httpStatus: Int?
    public var requestID: String?
    public var bytesReceived: Int
    public var charsReceived: Int
    /// The text to keep for a continuation. nil: this attempt kept none, and the job keeps the
    /// partial it had (an attempt that received nothing never erases text paid for earlier).
    public var keptPartial: String?
    public var keptPartialTokens: Int
    /// The reasoning that came before `keptPartial` (nil: as `keptPartial`, the job keeps what it had).
    public var keptReasoning: String? = nil
    /// With `keptPartial`, every choice's text of an answer of several choices (`PartialText.choices`).
    public var keptChoices: String? = nil
    public var spentPromptTokens: Int
    /// What this attempt itself received (its text), for the attempt history.
    public var receivedText: String?
    /// The job's kept partial must go even though nothing replaces it: it ends in a tool call cut
    /// mid-arguments, which cannot be continued (the next attempt starts over).
    public var discardsPartial = false
    public var timings = AttemptTimings()
    /// What this attempt was billed (a cut stream is paid for too).
    public var charge: AttemptCharge? = nil
    /// The provider's own error object (JSON text) when it answered with an HTTP error.
    public var errorBody: String?
    /// When the attempt ended, as the runner saw it (nil: when the store writes it; see `JobOutcome.endedAt`).
    public var endedAt: Double? = nil
}

/// How an attempt continues a cut job (`attempts.continuation`): `prefill`,
/// `continue_final_message` or `restart`, and why (shown by `choreo show`).
public struct AttemptContinuation: Sendable, Hashable {
    public var method: String
    public var reason: String

    public init(method: String, reason: String) {
        self.method = method
        self.reason = reason
    }
}

/// A job's lease expired and another runner took the job (or it is not leased at all): this
/// runner must leave it alone. Thrown by `JobQueue.startAttempt`; `complete` returns false instead.
public struct LeaseLost: Error, Sendable, CustomStringConvertible {
    public let job: Int64
    public var description: String { "job \(job) is no longer leased to this runner (another runner took it); its attempt was not started" }
}

/// The SQLite `JobStore`: leases, attempts, partial and final outputs. One actor owns
/// one connection, so every write of a runner is serialised through it; leases make two runners
/// (two processes) on one file safe: a job is claimed in one `BEGIN IMMEDIATE` transaction that
/// only takes jobs nobody holds, and every later write checks the lease is still ours. The writes
/// every job makes (start, success, failure) and the partial flushes are group-committed: those
/// that arrive together share one transaction, and one that fails is undone alone (`WriteBatcher`).
///
/// The actor runs on a thread of its own (`DatabaseExecutor`), not on Swift's cooperative pool:
/// a statement that waits for another process's lock blocks that thread only.
public actor JobQueue: JobStore {
    /// The connection (`JobQueue+ProviderBudgets` uses it too).
    let db: Database
    /// The thread every statement of this queue runs on.
    private nonisolated let executor = DatabaseExecutor()
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    public nonisolated let runnerID: String
    /// The database file, for `abandon`'s connection of its own.
    private nonisolated let path: String
    /// Group commit of the per-job writes (see `QueuedWrite`).
    private let writes: WriteBatcher<QueuedWrite, WriteResult>

    /// `storage` hears of every group commit and every storage fault, and bounds how long the
    /// per-job writes wait out a full disk.
    public init(path: String, runnerID: String, busyTimeout: Double = Database.defaultBusyTimeout, storage: StorageHealth? = nil) throws {
        let db = try Database(path: path, busyTimeout: busyTimeout)
        // 4 MiB of page cache (SQLite's default is 2 MiB): every finished job rewrites its row
        // and index pages, and with a small cache each write read them back from the file first
        // (firehose: 19 `pread`s a job).
        try db.execute("PRAGMA cache_size = -4096")
        self.db = db
        self.runnerID = runnerID
        self.path = path
        self.writes = WriteBatcher(db: db, storage: storage, othersWaiting: { [executor] in executor.hasQueuedJobs }) {
            try JobQueue.apply($0, db: db, runnerID: runnerID)
        }
    }

    deinit { executor.shutdown() }

    /// True when called on the queue's own thread (tests).
    func isOnItsOwnThread() -> Bool { executor.isCurrentThread }

    private var now: Double { Date().timeIntervalSince1970 }

    /// Records this runner, and (as the next writer) deletes what killed submits left behind.
    public func registerRunner() throws {
        try db.removeAbandonedSubmits()
        let host = ProcessInfo.processInfo.hostName
        try db.run("INSERT OR REPLACE INTO runners (id, pid, host, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                   [.init(runnerID), .init(Int(getpid())), .init(host), .init(now), .init(now)])
    }

    public func unregisterRunner() throws {
        try db.run("UPDATE runners SET stopped_at = ? WHERE id = ?", [.init(now), .init(runnerID)])
    }

    /// Renews the leases of every job this runner holds, once it has checked that the database
    /// file is still the one at the path (`DatabaseFileLost` otherwise, and nothing is written).
    public func heartbeat(leaseSeconds: Double) throws {
        try checkStorage()
        let t = now
        try db.transaction {
            try db.run("UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND state = 'running'",
                       [.init(t + leaseSeconds), .init(runnerID)])
            try db.run("UPDATE runners SET heartbeat_at = ? WHERE id = ?", [.init(t), .init(runnerID)])
        }
    }

    /// Throws `DatabaseFileLost` when the file at the path is no longer the one this queue writes to.
    public func checkStorage() throws {
        if let lost = db.fileLost() {
            db.disown()
            throw lost
        }
    }

    /// The cancelled batches. A read of the few `batches` rows and no write, so the runner asks
    /// often (twice a second) and `choreo cancel` stops running streams promptly.
    public func cancelledBatches() throws -> Set<String> {
        var cancelled: Set<String> = []
        try db.query("SELECT id FROM batches WHERE state = 'cancelled'") { cancelled.insert($0.string(0) ?? "") }
        return cancelled
    }

    /// Moves everything committed into the main database file (see `Database.checkpoint`).
    public func checkpoint() throws { try db.checkpoint() }

    /// Leases up to `limit` runnable jobs in claim order (`claimOrder`): pending ones whose
    /// backoff has passed, and running ones whose lease expired (their runner died), leaving those
    /// of `excludingModels` (providers the run gave up waiting for) alone. One `BEGIN IMMEDIATE`
    /// transaction. With `distinctRequests`, a pending job whose request key is a running job's,
    /// or an earlier candidate's, is passed over (it stays pending; see `JobStore.claim`).
    public func claim(limit: Int, leaseSeconds: Double, batch: String?, excludingModels: Set<String>,
                      distinctRequests: DistinctRequests?) throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        let t = now
        var jobs: [ClaimedJob] = []
        var ids: [Int64] = []
        try db.transaction {
            let filter = Self.excluding(excludingModels, "model", Database.batchFilter("batch_id", batch))
            // The running jobs' keys are read once for the whole walk, from the index of running
            // jobs (`jobs_by_request_key` would walk every finished job's key too).
            var distinct = (sql: "", arguments: [SQLValue]())
            if let d = distinctRequests {
                distinct.sql = """
                    AND NOT (request_key IS NOT NULL AND (request_samples = 0 OR ?) AND request_key IN
                             (SELECT request_key FROM jobs INDEXED BY jobs_leases WHERE state = 'running' AND request_key IS NOT NULL))
                    """
                distinct.arguments = [.init(d.includingSampled)]
            }
            // The first `limit` of each kind, merged in claim order: a job a dead runner held goes
            // back in line by its priority, not behind every pending job.
            var candidates: [(priority: Int64, id: Int64)] = []
            var keysTaken: Set<String> = []
            try db.query(Self.pendingCandidates(filter: filter.sql + distinct.sql),
                         [.init(t)] + filter.arguments + distinct.arguments + [.init(limit)]) { row in
                if let d = distinctRequests, let key = row.string(2), row.int(3) == 0 || d.includingSampled,
                   !keysTaken.insert(key).inserted {
                    return  // the same request as an earlier candidate: it waits for that one's answer
                }
                candidates.append((row.int64(0)!, row.int64(1)!))
            }
            var expired: Set<Int64> = []
            try db.query(Self.expiredCandidates(filter: filter.sql), [.init(t), .init(runnerID)] + filter.arguments + [.init(limit)]) {
                candidates.append(($0.int64(0)!, $0.int64(1)!))
                expired.insert($0.int64(1)!)
            }
            ids = candidates.sorted { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }.prefix(limit).map(\.id)
            guard !ids.isEmpty else { return }
            let list = Self.idList(ids)
            try db.query("""
                UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
                       started_at = coalesce(started_at, ?), updated_at = ?
                WHERE id IN (SELECT value FROM json_each(?))
                RETURNING id, batch_id, custom_id, model, \(Schema.jobRequest), attempts, attempt_base,
                          coalesce(\(Schema.livePartial("text", else: "partial_output")), ''),
                          coalesce(\(Schema.livePartial("tokens", else: "partial_tokens")), 0),
                          coalesce(spent_prompt_tokens, 0), timeout_seconds,
                          coalesce(partial_reasoning, ''), url
                """, [.init(runnerID), .init(t + leaseSeconds), .init(t), .init(t), .init(list)]) { row in
                jobs.append(ClaimedJob(
                    id: row.int64(0)!, batchID: row.string(1)!, customID: row.string(2)!, model: row.string(3)!,
                    request: row.string(4)!, attempts: row.int(5)!, attemptBase: row.int(6)!, partialOutput: row.string(7)!,
                    partialTokens: row.int(8)!, spentPromptTokens: row.int(9)!, timeout: row.double(10),
                    partialReasoning: row.string(11)!, endpoint: JobEndpoint(stored: row.string(12))))
            }
            // A job taken from a runner whose lease ran out: its live text (if any) is this
            // runner's to write from now on, so the old runner, should it still be streaming,
            // writes nothing more. (Any other live row a claimed job has is a gone runner's, and
            // this runner's first flush takes it over.) Skipped when no lease ran out, as in
            // nearly every claim.
            let takenOver = ids.filter(expired.contains)
            if !takenOver.isEmpty {
                try db.run("UPDATE live_partials SET runner = ? WHERE job_id IN (SELECT value FROM json_each(?))",
                           [.init(runnerID), .init(Self.idList(takenOver))])
            }
            // Attempts of a runner that died never got an end: close them now, so history is honest.
            try db.run("""
                UPDATE attempts SET ended_at = ?, outcome = 'interrupted', error_kind = coalesce(error_kind, 'runner_lost'),
                       error_message = coalesce(error_message, 'the runner stopped without ending this attempt (killed or crashed)')
                WHERE job_id IN (SELECT value FROM json_each(?)) AND ended_at IS NULL
                """, [.init(t), .init(list)])
            for b in Set(jobs.map(\.batchID)) {
                try db.run("UPDATE batches SET state = 'running' WHERE id = ? AND state = 'pending'", [.init(b)])
            }
        }
        // In claim order: the run starts them in this order.
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        return jobs.sorted { position[$0.id]! < position[$1.id]! }
    }

    /// Job ids as one JSON array parameter (`json_each(?)`), so the SQL is the same text every
    /// time (and its prepared statement is reused) however many jobs it names.
    static func idList(_ ids: [Int64]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }

    /// The order jobs are claimed in: higher `priority` first, then the oldest (`id`).
    static let claimOrder = "priority DESC, id"

    /// A claimed job's batch must be live (pending or running).
    private static let liveBatches = "batch_id IN (SELECT id FROM batches WHERE state \(live))"

    /// The pending jobs a claim may take, in claim order, at most `?` of them. Walks the
    /// `jobs_runnable` index, which is in that order, and stops at the limit: no sort of every
    /// pending job, however many there are (`claimWalksTheRunnableIndexWithoutSorting`).
    /// Arguments: now, `filter`'s, the limit.
    static func pendingCandidates(filter: String) -> String {
        """
        SELECT priority, id, request_key, request_samples FROM jobs INDEXED BY jobs_runnable
        WHERE state = 'pending' AND (not_before IS NULL OR not_before <= ?) AND \(liveBatches) \(filter)
        ORDER BY \(claimOrder) LIMIT ?
        """
    }

    /// The running jobs whose lease expired (their runner died) that a claim may take back, in
    /// claim order, at most `?` of them; not this runner's own: such a job is still in flight here
    /// (a late heartbeat), and running it twice would double it. Asked on every claim, so it
    /// reads only the expired leases (`jobs_leases`), never every running job.
    /// Arguments: now, this runner, `filter`'s, the limit.
    static func expiredCandidates(filter: String) -> String {
        """
        SELECT priority, id FROM jobs INDEXED BY jobs_leases
        WHERE state = 'running' AND lease_expires_at < ? AND lease_owner IS NOT ? AND \(liveBatches) \(filter)
        ORDER BY \(claimOrder) LIMIT ?
        """
    }

    // MARK: The per-job writes, committed in groups

    /// The writes of a job's life that every job makes (start, success, failure) and the partial
    /// flushes: they go through `writes`, which commits the ones that arrive together in one
    /// transaction (group commit), a failed one undone alone. `at` is the time the caller asked.
    enum QueuedWrite {
        case startAttempt(job: Int64, continuedFromChars: Int?, continuation: AttemptContinuation?, at: Double)
        case complete(job: Int64, attempt: Int, outcome: JobOutcome, at: Double)
        case endAttempt(job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                        finalState: JobState.Final, countsAsAttempt: Bool, at: Double)
        case savePartials([PartialText], at: Double)
        case completeFromCache([(job: Int64, key: String, answer: CachedAnswer)], at: Double)
    }

    enum WriteResult: Sendable {
        case attempt(Int)
        case leaseHeld(Bool)
        case served([Int64])
        case refused(Set<Int64>)
        case done
    }

    /// Groups and writes committed so far (tests, diagnostics).
    var groupCommitStats: WriteBatcher<QueuedWrite, WriteResult>.Stats { writes.stats }
    /// How many times a group's leader yielded to let writes queued behind it join (tests).
    var groupCommitYields: Int { writes.yields }

    /// Records the start of each attempt, all in the next group; returns each one's number, or
    /// `LeaseLost` (nothing written for it) when the job is no longer leased to this runner: that
    /// attempt must not be made.
    ///
    /// These writes, `complete` and `endAttempt` wait out a busy database (another process holding
    /// the write lock): they try again until they commit, or until the calling task is cancelled
    /// (the run is stopping). A finished answer is never dropped because the file was busy.
    public func startAttempts(_ starts: [AttemptStart]) async -> [Result<Int, any Error>] {
        let t = now
        let queued = starts.map {
            QueuedWrite.startAttempt(job: $0.job, continuedFromChars: $0.continuedFromChars, continuation: $0.continuation, at: t)
        }
        return await submitUntilCommitted(queued) { written in
            guard case .attempt(let number) = written else { preconditionFailure("a start returns an attempt number") }
            return number
        }
    }

    /// `queued` in the next group, waiting out a busy database; each write's result as `read`
    /// takes it, or its own error.
    private func submitUntilCommitted<T>(_ queued: [QueuedWrite], reading read: (WriteResult) -> T) async -> [Result<T, any Error>] {
        await writes.submit(queued, untilCommitted: true, isolation: self).map { $0.map(read) }
    }

    /// Writes the latest partial text of many jobs in one transaction (all of them or none).
    /// A busy database fails it at once: the flusher writes the newer text next round instead.
    /// Returns the jobs whose write was refused (`JobStore.savePartials`).
    @discardableResult
    public func savePartials(_ partials: [PartialText]) async throws -> Set<Int64> {
        guard !partials.isEmpty else { return [] }
        guard case .refused(let jobs) = try await writes.submit(.savePartials(partials, at: now), untilCommitted: false, isolation: self)
        else { preconditionFailure("a partial flush returns the writes it refused") }
        return jobs
    }

    /// The jobs succeeded: output, usage and timings land with each one's state change, all in
    /// the next group. A job whose lease was lost (another runner took it) is false: only its
    /// attempt's end is written then.
    public func complete(_ successes: [JobSuccess]) async -> [Result<Bool, any Error>] {
        let t = now
        let queued = successes.map {
            QueuedWrite.complete(job: $0.job, attempt: $0.attempt, outcome: $0.outcome, at: $0.outcome.endedAt ?? t)
        }
        return await submitUntilCommitted(queued) { written in
            guard case .leaseHeld(let held) = written else { preconditionFailure("complete returns whether the lease was held") }
            return held
        }
    }

    /// Ends an attempt that did not succeed. `retryAt` set: the job goes back to pending (runnable
    /// from then, by any runner); nil: the job ends in `finalState` (failed or cancelled).
    /// `countsAsAttempt` false: the attempt does not use up the job's retries (a refused prefill).
    public func endAttempt(job: Int64, attempt: Int, failure f: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                           finalState: JobState.Final, countsAsAttempt: Bool) async throws {
        _ = try await writes.submit(.endAttempt(job: job, attempt: attempt, failure: f, outcome: outcome, retryAt: retryAt,
                                                finalState: finalState, countsAsAttempt: countsAsAttempt, at: f.endedAt ?? now),
                             untilCommitted: true, isolation: self)
    }

    /// One queued write's statements. Runs inside the group's transaction: what it wrote is undone
    /// alone when it throws (`WriteBatcher`).
    static func apply(_ write: QueuedWrite, db: Database, runnerID: String) throws -> WriteResult {
        switch write {
        case let .startAttempt(job, continuedFromChars, continuation, t):
            // Without the lease nothing is updated: the job (and its attempt numbers) belong to the
            // runner that took it, so no attempt begins here. The count is read back by its rowid:
            // `RETURNING` builds a temporary table for its rows, which cost every job ~24,000
            // instructions more than the read (1% of a firehose run's).
            try db.run("UPDATE jobs SET attempts = attempts + 1, updated_at = ? WHERE id = ? AND lease_owner = ?",
                       [.init(t), .init(job), .init(runnerID)])
            guard db.changes == 1, let number = try db.queryOne("SELECT attempts FROM jobs WHERE id = ?", [.init(job)], { $0.int(0)! })
            else { throw LeaseLost(job: job) }
            try db.run("""
                INSERT INTO attempts (job_id, number, runner, started_at, continued_from_chars, continuation, continuation_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.init(job), .init(number), .init(runnerID), .init(t), .init(continuedFromChars),
                      .init(continuation?.method), .init(continuation?.reason)])
            return .attempt(number)

        case let .savePartials(partials, t):
            return .refused(try Self.savePartials(partials, at: t, runnerID: runnerID, db: db))

        case let .complete(job, attempt, o, t):
            // The attempt's end first: the trigger that adds its charge to the job's cost rewrites
            // the job's row, small before the answer is in it and ~2.7 KB after (the text and the
            // response object): ~14,000 instructions a job (callgrind).
            try writeAttemptEnd(job: job, number: attempt, Self.attemptSucceeded,
                                [.init(t), .init(o.httpStatus), .init(o.bytesReceived), .init(o.charsReceived), .init(o.requestID)]
                                    + o.timings.values, charge: o.charge, db: db)
            try db.run(Self.jobSucceeded, [.init(o.output), .init(o.toolCalls), .init(o.finishReason), .init(o.providerFinishReason), .init(o.response),
                      .init(o.promptTokens), .init(o.completionTokens),
                      .init(o.promptTokens.flatMap { p in o.completionTokens.map { p + $0 } }),
                      .init(o.firstTokenMs), .init(o.durationMs), .init(o.httpStatus), .init(o.requestID),
                      .init(o.cachedPromptTokens), .init(o.cacheWriteTokens), .init(o.reasoningTokens),
                      .init(t), .init(t), .init(o.reasoning), .init(o.bytesReceived)] + o.timings.jobValues
                    + [.init(o.requestKey?.value), .init(o.requestKey?.samples), .init(o.embedding?.float32LittleEndian),
                       .init(o.embedding?.dimensions), .init(job), .init(runnerID)])
            guard db.changes == 1 else {
                // Another runner took the job (our lease expired): its result stands, ours is
                // dropped. The attempt ended all the same, and was paid for (its charge stays).
                try db.run("""
                    UPDATE attempts SET outcome = 'lease_lost', error_kind = 'lease_lost',
                           error_message = 'the lease expired before the result was written; another runner took the job'
                    WHERE job_id = ? AND number = ?
                    """, [.init(job), .init(attempt)])
                return .leaseHeld(false)
            }
            try dropLivePartial(job: job, db: db)
            return .leaseHeld(true)

        case let .endAttempt(job, attempt, f, outcome, retryAt, finalState, countsAsAttempt, t):
            let state = retryAt == nil ? finalState.state : .pending
            try db.run(Self.jobAttemptEnded, [.init(state.rawValue), .init(retryAt), .init(f.kind.rawValue), .init(f.message), .init(f.httpStatus), .init(f.requestID),
                      .init(f.discardsPartial), .init(f.keptPartial), .init(f.keptPartialTokens), .init(f.spentPromptTokens),
                      .init(retryAt == nil ? t : nil), .init(t), .init(countsAsAttempt ? 0 : 1), .init(job), .init(runnerID),
                      .init(f.errorBody), .init(f.keptReasoning), .init(f.keptChoices)])
            let leaseHeld = db.changes == 1
            if leaseHeld { try dropLivePartial(job: job, db: db) }
            let end = AttemptEnd(outcome: outcome, failure: f, leaseHeld: leaseHeld)
            try writeAttemptEnd(job: job, number: attempt, Self.attemptEnded,
                                [.init(t), .init(end.outcome.rawValue), .init(f.httpStatus), .init(end.kind), .init(end.message),
                                 .init(f.bytesReceived), .init(f.charsReceived), .init(f.requestID), .init(f.receivedText)] + f.timings.values,
                                charge: f.charge, db: db)
            return .done

        case let .completeFromCache(served, t):
            var written: [Int64] = []
            for s in served {
                let a = s.answer
                try db.run("""
                    UPDATE jobs SET state = 'succeeded', output = ?, tool_calls = ?, finish_reason = ?, provider_finish_reason = ?,
                           response = ?, reasoning = ?, request_id = ?, cached_from = ?, cache_saved_usd = ?, request_key = ?,
                           embedding = ?, dimensions = ?,
                           prompt_tokens = 0, completion_tokens = 0, total_tokens = 0, cost_usd = 0,
                           error_kind = NULL, error_message = NULL, error_body = NULL, partial_output = NULL, partial_tokens = NULL,
                           partial_choices = NULL, http_status = NULL, not_before = NULL, lease_owner = NULL, lease_expires_at = NULL,
                           duration_ms = 0, finished_at = ?, updated_at = ?
                    WHERE id = ? AND lease_owner = ? AND state = 'running'
                    """, [.init(a.output), .init(a.toolCalls), .init(a.finishReason), .init(a.providerFinishReason), .init(a.response),
                          .init(a.reasoning), .init(a.requestID), .init(a.source), .init(a.costUSD), .init(s.key),
                          .init(a.embedding), .init(a.dimensions), .init(t), .init(t), .init(s.job), .init(runnerID)])
                if db.changes == 1 {
                    written.append(s.job)
                    try dropLivePartial(job: s.job, db: db)
                }
            }
            return .served(written)
        }
    }

    /// Ends attempt `number` of `job`: `end`'s assignments of its `attempts` row bound to `values`,
    /// and its charge (`AttemptCharge.assignments`) in the same statement.
    static func writeAttemptEnd(job: Int64, number: Int, _ end: AttemptEndSQL, _ values: [SQLValue], charge: AttemptCharge?,
                                db: Database) throws {
        guard let charge else { return try db.run(end.uncharged, values + [.init(job), .init(number)]) }
        try db.run(end.charged, values + charge.values + [.init(job), .init(number)])
    }

    /// The `UPDATE` that ends an attempt a given way, with and without its charge. Made once:
    /// the statements of a job's end, made again on every job, cost ~11,000 instructions a job
    /// in string appends (callgrind).
    struct AttemptEndSQL {
        let uncharged: String
        let charged: String

        init(_ assignments: String) {
            uncharged = "UPDATE attempts SET \(assignments) WHERE job_id = ? AND number = ?"
            charged = "UPDATE attempts SET \(assignments), \(AttemptCharge.assignments) WHERE job_id = ? AND number = ?"
        }
    }

    /// A succeeded attempt's end; its job's `jobSucceeded` follows.
    static let attemptSucceeded = AttemptEndSQL("""
        ended_at = ?, outcome = 'succeeded', http_status = ?, bytes_received = ?, chars_received = ?, request_id = ?,
        \(AttemptTimings.assignments)
        """)

    /// Any other attempt's end (`.endAttempt`).
    static let attemptEnded = AttemptEndSQL("""
        ended_at = ?, outcome = ?, http_status = ?, error_kind = ?, error_message = ?,
        bytes_received = ?, chars_received = ?, request_id = ?, received_text = ?, \(AttemptTimings.assignments)
        """)

    /// A job's row after an attempt that did not answer (`.endAttempt`), guarded by its lease:
    /// back to pending (or cancelled with its batch) or failed, its text so far kept or dropped
    /// (`?7`), or the kept text a continuation starts from (`?8`) in place of the live one.
    static let jobAttemptEnded = """
        UPDATE jobs SET state = CASE WHEN ?1 = 'pending' THEN \(requeuedState) ELSE ?1 END,
               not_before = ?2, error_kind = ?3, error_message = ?4, http_status = ?5, request_id = ?6,
               partial_output = CASE WHEN ?7 THEN NULL ELSE coalesce(?8, \(Schema.livePartial("text", else: "partial_output"))) END,
               partial_tokens = CASE WHEN ?7 THEN NULL WHEN ?8 IS NOT NULL THEN ?9
                                     ELSE \(Schema.livePartial("tokens", else: "partial_tokens")) END,
               partial_reasoning = CASE WHEN ?7 THEN NULL WHEN ?8 IS NULL THEN partial_reasoning ELSE ?17 END,
               partial_choices = CASE WHEN ?7 THEN NULL WHEN ?8 IS NOT NULL THEN ?18
                                      ELSE \(Schema.livePartial("choices", else: "partial_choices")) END,
               spent_prompt_tokens = ?10, lease_owner = NULL, lease_expires_at = NULL,
               finished_at = ?11, updated_at = ?12, attempt_base = attempt_base + ?13, error_body = ?16
        WHERE id = ?14 AND lease_owner = ?15
        """

    /// A job's answer, guarded by its lease.
    static let jobSucceeded = """
        UPDATE jobs SET state = 'succeeded', output = ?, tool_calls = ?, finish_reason = ?, provider_finish_reason = ?,
               response = ?, prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, first_token_ms = ?, duration_ms = ?,
               http_status = ?, request_id = ?, error_kind = NULL, error_message = NULL, error_body = NULL, partial_output = NULL,
               partial_reasoning = NULL, partial_choices = NULL, cached_prompt_tokens = ?, cache_write_tokens = ?, reasoning_tokens = ?,
               partial_tokens = NULL, not_before = NULL, lease_owner = NULL, lease_expires_at = NULL,
               finished_at = ?, updated_at = ?, reasoning = ?, bytes_received = ?, \(AttemptTimings.jobAssignments),
               request_key = coalesce(?, request_key), request_samples = coalesce(?, request_samples),
               embedding = ?, dimensions = ?
        WHERE id = ? AND lease_owner = ? AND state = 'running'
        """

    /// Ends jobs as answered from the cache (see `JobStore.completeFromCache`), group-committed
    /// with the other per-job writes, and waiting out a busy database as they do.
    public func completeFromCache(_ served: [(job: Int64, key: String, answer: CachedAnswer)]) async throws -> [Int64] {
        guard !served.isEmpty else { return [] }
        guard case .served(let ids) = try await writes.submit(.completeFromCache(served, at: now), untilCommitted: true, isolation: self)
        else { preconditionFailure("completeFromCache returns the jobs it wrote") }
        return ids
    }

    /// Keys the jobs a cached run may run or reuse (see `JobStore.fillRequestKeys`), 2,000 a
    /// transaction. Each walk reads only rows that need a key, through an index: the pending jobs
    /// (`jobs_runnable`; their rows are small) and the succeeded ones finished without a key
    /// (`jobs_unkeyed_answers`: those of versions before the cache), never every finished job.
    public func fillRequestKeys(batch: String?, keyOf: @Sendable (_ model: String, _ request: String, _ url: String?) -> RequestKey?) throws -> Int {
        let filter = Database.batchFilter("batch_id", batch)
        let walks: [(sql: String, arguments: [SQLValue])] = [
            ("""
             SELECT id, model, \(Schema.jobRequest), url FROM jobs INDEXED BY jobs_runnable
             WHERE id > ? AND state = 'pending' AND request_key IS NULL
               AND batch_id IN (SELECT id FROM batches WHERE state \(Self.live)) \(filter.sql)
             ORDER BY id LIMIT 2000
             """, filter.arguments),
            ("""
             SELECT id, model, \(Schema.jobRequest), url FROM jobs INDEXED BY jobs_unkeyed_answers
             WHERE id > ? AND state = 'succeeded' AND request_key IS NULL AND \(CachedAnswer.reusableAnswerSQL())
             ORDER BY id LIMIT 2000
             """, []),
        ]
        var filled = 0
        for walk in walks {
            var lastID: Int64 = 0
            while true {
                var rows: [(id: Int64, key: RequestKey?)] = []
                try db.query(walk.sql, [.init(lastID)] + walk.arguments) { row in
                    rows.append((row.int64(0)!, keyOf(row.string(1) ?? "", row.string(2) ?? "", row.string(3))))
                }
                guard let last = rows.last else { break }
                lastID = last.id
                try db.transaction {
                    for r in rows {
                        guard let key = r.key else { continue }
                        try db.run("UPDATE jobs SET request_key = ?, request_samples = ? WHERE id = ? AND request_key IS NULL",
                                   [.init(key.value), .init(key.samples), .init(r.id)])
                        filled += db.changes
                    }
                }
            }
        }
        return filled
    }

    /// The earliest reusable answer to each of `keys` in this database: always one that was paid
    /// for, never a copy served from the cache (that names its source).
    public func cachedAnswers(keys: [String]) throws -> [String: CachedAnswer] {
        guard !keys.isEmpty else { return [:] }
        var found: [String: CachedAnswer] = [:]
        let list = JSONValue.array(Set(keys).sorted().map { .string($0) }).jsonString
        try db.query("""
            SELECT j.request_key, j.output, j.tool_calls, j.finish_reason, j.provider_finish_reason, j.response, j.reasoning,
                   j.request_id, j.batch_id || '/' || j.custom_id, j.cost_usd, j.embedding, j.dimensions
            FROM jobs j
            WHERE j.request_key IN (SELECT value FROM json_each(?)) AND j.state = 'succeeded' AND j.cached_from IS NULL
              AND \(CachedAnswer.reusableAnswerSQL("j.")) AND j.response IS NOT NULL
            ORDER BY j.id DESC
            """, [.init(list)]) { row in
            // Descending: the earliest answer of a key is the one kept.
            var answer = CachedAnswer(
                output: row.string(1), toolCalls: row.string(2), finishReason: row.string(3), providerFinishReason: row.string(4),
                response: row.string(5)!, reasoning: row.string(6), requestID: row.string(7), source: row.string(8) ?? "",
                costUSD: row.double(9))
            answer.embedding = row.blob(10)
            answer.dimensions = row.int(11)
            found[row.string(0)!] = answer
        }
        return found
    }

    // MARK: Other writes (each its own transaction)

    /// Ends a claimed job without an attempt (its batch was cancelled, its provider is stopped).
    public func endWithoutAttempt(job: Int64, state: JobState.Final, kind: FailureKind, message: String) throws {
        let t = now
        try db.run("""
            UPDATE jobs SET state = ?, error_kind = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL,
                   finished_at = ?, updated_at = ?
            WHERE id = ? AND lease_owner = ?
            """, [.init(state.state.rawValue), .init(kind.rawValue), .init(message), .init(t), .init(t), .init(job), .init(runnerID)])
    }

    /// The states of a job or a batch that is not over yet: `state \(live)`.
    static let live = "IN ('pending', 'running')"

    /// The state of a job given back to the queue: pending, unless its batch was cancelled
    /// meanwhile (then it is not put back in the queue).
    static let requeuedState = "CASE WHEN (SELECT state FROM batches WHERE id = jobs.batch_id) = 'cancelled' THEN 'cancelled' ELSE 'pending' END"

    /// `filter` narrowed to jobs whose model is not one of `models` (bound as one JSON array).
    static func excluding(_ models: Set<String>, _ column: String, _ filter: (sql: String, arguments: [SQLValue])) -> (sql: String, arguments: [SQLValue]) {
        guard !models.isEmpty else { return filter }
        let list = JSONValue.array(models.sorted().map { .string($0) }).jsonString
        return (filter.sql + " AND \(column) NOT IN (SELECT value FROM json_each(?))", filter.arguments + [.text(list)])
    }

    /// Gives one job back to the queue untouched (the run stopped before its attempt began).
    public func release(job: Int64) throws {
        try db.run("""
            UPDATE jobs SET state = \(Self.requeuedState),
                   lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ? AND lease_owner = ? AND state = 'running'
            """, [.init(job), .init(runnerID)])
    }

    /// The run is aborted (second signal, or the stop took longer than its grace period): in one
    /// transaction on a connection of its own (the queue's may be busy), writes the text each
    /// stream has received, ends the open attempts as interrupted and gives back every job
    /// `runnerID` holds, as a graceful stop would have. Synchronous: the process exits next.
    public nonisolated func abandon(partials: [PartialText]) throws {
        try Self.abandon(path: path, runnerID: runnerID, partials: partials)
    }

    /// Writes the text of each job still `running` under `runnerID`'s lease (`PartialText`) to its
    /// row of `live_partials` (schema 18): a narrow row to write, where an `UPDATE` of `jobs`
    /// rewrites its whole record. A row this runner already writes is updated alone; the first
    /// flush of an attempt writes the row only if the job's lease is this runner's (a runner whose
    /// job was taken over writes nothing: the claim that took it made the row the new runner's).
    ///
    /// The first `headBytes` of a text go to its row of `live_heads` (schema 21) and the rest to
    /// the live row, so that the flushes after it rewrite only the rest: SQLite rewrites a record
    /// whole, and a long answer's whole text every flush was most of what a flush cost. A write
    /// that counts on the stored head (`headStored`) changes the live row only where it is this
    /// runner's and its head is that long; the jobs where it is not are returned, unwritten.
    static func savePartials(_ partials: [PartialText], at t: Double, runnerID: String, db: Database) throws -> Set<Int64> {
        // The enum's cases, not its generic `init`: that is a witness-table call per value.
        var rests: [[SQLValue]] = [], restJobs: [Int64] = []
        var whole: [[SQLValue]] = [], heads: [(job: Int64, head: String?)] = []
        for p in partials {
            let (head, rest) = p.cutAtHead()
            let tokens = SQLValue.integer(Int64(p.tokens)), choices = p.choices.map(SQLValue.text) ?? .null
            if p.headStored {
                rests.append([.text(rest), tokens, choices, .real(t), .integer(p.job), .text(runnerID), .integer(Int64(p.headBytes))])
                restJobs.append(p.job)
            } else {
                whole.append([.text(rest), tokens, choices, .real(t), .integer(Int64(p.headBytes)), .integer(p.job), .text(runnerID)])
                heads.append((p.job, head.isEmpty ? nil : String(head)))
            }
        }
        var refused: Set<Int64> = []
        if !rests.isEmpty {
            let unchanged = try db.runEach("""
                UPDATE live_partials SET text = ?, tokens = ?, choices = ?, updated_at = ?
                WHERE job_id = ? AND runner = ? AND head_bytes = ?
                """, rests)
            refused = Set(unchanged.map { restJobs[$0] })
        }
        guard !whole.isEmpty else { return refused }
        let firsts = try db.runEach("""
            UPDATE live_partials SET text = ?, tokens = ?, choices = ?, updated_at = ?, head_bytes = ? WHERE job_id = ? AND runner = ?
            """, whole)
        let notInserted = firsts.isEmpty ? [] : try db.runEach("""
            INSERT INTO live_partials (text, tokens, choices, updated_at, head_bytes, job_id, runner)
            SELECT ?, ?, ?, ?, ?, id, lease_owner FROM jobs WHERE id = ? AND lease_owner = ? AND state = 'running'
            ON CONFLICT (job_id) DO UPDATE SET runner = excluded.runner, text = excluded.text, tokens = excluded.tokens,
                                               choices = excluded.choices, updated_at = excluded.updated_at,
                                               head_bytes = excluded.head_bytes
            """, firsts.map { whole[$0] })
        // Each live row written gets its head, or loses the one it had. (Mostly none: one probe.)
        let unwritten = Set(notInserted.map { firsts[$0] })
        var newHeads: [[SQLValue]] = [], noHeads: [[SQLValue]] = []
        for (i, h) in heads.enumerated() where !unwritten.contains(i) {
            if let head = h.head { newHeads.append([.integer(h.job), .text(head)]) } else { noHeads.append([.integer(h.job)]) }
        }
        if !newHeads.isEmpty { try db.runEach("INSERT OR REPLACE INTO live_heads (job_id, head) VALUES (?, ?)", newHeads) }
        if !noHeads.isEmpty { try db.runEach("DELETE FROM live_heads WHERE job_id = ?", noHeads) }
        return refused
    }

    /// Drops `job`'s live text: its partial columns in `jobs` were just written (or cleared), and
    /// the row would otherwise supersede them.
    static func dropLivePartial(job: Int64, db: Database) throws {
        try db.run("DELETE FROM live_partials WHERE job_id = ?", [.init(job)])
    }

    static func abandon(path: String, runnerID: String, partials: [PartialText]) throws {
        let db = try Database(path: path)
        let t = Date().timeIntervalSince1970
        try db.transaction {
            _ = try savePartials(partials, at: t, runnerID: runnerID, db: db)
            try db.run("""
                UPDATE attempts SET ended_at = ?, outcome = 'interrupted', error_kind = 'interrupted',
                       error_message = 'the runner was aborted (second signal or grace period) during this attempt'
                WHERE ended_at IS NULL AND runner = ?
                  AND job_id IN (SELECT id FROM jobs WHERE lease_owner = ? AND state = 'running')
                """, [.init(t), .init(runnerID), .init(runnerID)])
            try db.run("""
                UPDATE jobs SET state = \(Self.requeuedState), lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE lease_owner = ? AND state = 'running'
                """, [.init(t), .init(runnerID)])
            try db.run("UPDATE runners SET stopped_at = ? WHERE id = ?", [.init(t), .init(runnerID)])
        }
        try db.checkpoint()
    }

    /// Gives back every job this runner still holds (on shutdown), keeping their partial output.
    public func releaseAll() throws {
        try db.run("""
            UPDATE jobs SET state = \(Self.requeuedState),
                   lease_owner = NULL, lease_expires_at = NULL
            WHERE lease_owner = ? AND state = 'running'
            """, [.init(runnerID)])
    }

    /// What is left to do: runnable now, waiting (backoff or another runner's lease), and the
    /// earliest moment something becomes runnable.
    public func outlook(batch: String?, excludingModels: Set<String>) throws -> QueueOutlook {
        let filter = Self.excluding(excludingModels, "j.model", Database.batchFilter("j.batch_id", batch))
        return try db.queryOne(Self.outlookQuery(filter: filter.sql), [.init(runnerID)] + filter.arguments) { row in
            QueueOutlook(pending: row.int(0) ?? 0, heldByOthers: row.int(1) ?? 0, nextWake: row.double(2))
        } ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
    }

    /// The outlook's read: the live jobs of the live batches, found through `jobs_by_batch_state`
    /// from each live batch. `CROSS JOIN` keeps that order: left to choose, SQLite's planner read
    /// every row of `jobs` (finished ones and their answers too) and looked each one's batch up,
    /// and the runner asks every 50 ms while it has free slots (a firehose of 500 jobs: 47 reads,
    /// 5% of the run's instructions, and page reads past the cache).
    /// Arguments: this runner, `filter`'s.
    static func outlookQuery(filter: String) -> String {
        """
        SELECT sum(j.state = 'pending'), sum(j.state = 'running' AND j.lease_owner <> ?),
               min(CASE WHEN j.state = 'pending' THEN coalesce(j.not_before, 0)
                        WHEN j.state = 'running' THEN j.lease_expires_at END)
        FROM batches b CROSS JOIN jobs j ON j.batch_id = b.id
        WHERE b.state \(live) AND j.state \(live) \(filter)
        """
    }

    /// Job counts by state (only states that have jobs), for progress. Read from the counters
    /// `status` reads (`JobFigures`), not by counting every job.
    public func counts(batch: String?) throws -> [String: Int] {
        try JobFigures(db, batch: batch).jobs
    }

    /// Marks batches with no pending or running job as completed.
    public func completeFinishedBatches() throws {
        try db.run("""
            UPDATE batches SET state = 'completed', completed_at = ?
            WHERE state \(Self.live)
              AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.batch_id = batches.id AND jobs.state \(Self.live))
            """, [.init(now)])
    }

    /// Puts a batch's jobs back in the queue for `choreo resume`: interrupted ones and retryable
    /// failures (every failure with `all`), each with a fresh attempt budget. Returns how many.
    public func resume(batch: String, all: Bool, retryableKinds: [FailureKind]) throws -> Int {
        try db.requeue(batch: batch, all: all, retryableKinds: retryableKinds, now: now)
    }

    /// The models of the jobs still to run, with how many jobs each.
    public func pendingModels(batch: String?) throws -> [String: Int] {
        let filter = Database.batchFilter("j.batch_id", batch)
        var out: [String: Int] = [:]
        try db.query("""
            SELECT j.model, count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id
            WHERE b.state \(Self.live) AND j.state \(Self.live) \(filter.sql)
            GROUP BY j.model
            """, filter.arguments) { row in out[row.string(0) ?? ""] = row.int(1) ?? 0 }
        return out
    }

    /// The models that refused a prefill in earlier runs on this database, with the provider's message.
    public func prefillRefusals() throws -> [String: String] {
        var out: [String: String] = [:]
        try db.query("SELECT model, message FROM prefill_refusals") { out[$0.string(0) ?? ""] = $0.string(1) ?? "" }
        return out
    }

    /// Remembers that `model` refused a prefill, for later runs on this database.
    public func recordPrefillRefusal(model: String, message: String) throws {
        try db.run("INSERT OR REPLACE INTO prefill_refusals (model, message, learned_at) VALUES (?, ?, ?)",
                   [.init(model), .init(message), .init(now)])
    }

    public func batchExists(_ id: String) throws -> Bool {
        try db.queryOne("SELECT 1 FROM batches WHERE id = ? AND state \(Schema.visible)", [.init(id)]) { _ in true } ?? false
    }
}
