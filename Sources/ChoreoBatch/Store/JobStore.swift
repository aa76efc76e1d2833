public import ChoreoAI

/// The latest text of one streaming job, as the partial flusher hands it to the store: the text
/// to keep should the stream end here, and the completion tokens that produced it; for an answer
/// of several choices (`n > 1`), every choice's text as received, a JSON array in index order
/// (`jobs.partial_choices`; nil for one choice).
///
/// `headBytes`: how many bytes (UTF-8) at the front of `text` a store may keep apart from the
/// rest, so that a flush rewrites only the rest (SQLite: `live_heads`, schema 21); 0 for none.
/// `headStored`: the store already holds that head from an earlier flush of this attempt, so
/// only the rest is written, and only where the stored head is still that long (else the write
/// is refused: `JobStore.savePartials`). A store that keeps the text whole ignores both.
public struct PartialText: Sendable {
    public var job: Int64
    public var text: String
    public var tokens: Int
    public var choices: String?
    public var headBytes: Int
    public var headStored: Bool

    public init(job: Int64, text: String, tokens: Int, choices: String?, headBytes: Int = 0, headStored: Bool = false) {
        self.job = job
        self.text = text
        self.tokens = tokens
        self.choices = choices
        self.headBytes = headBytes
        self.headStored = headStored
    }

    /// `text` cut after its first `headBytes` bytes (a scalar boundary: the end of an earlier,
    /// shorter text of the same stream): the head, not copied (a write that counts on the stored
    /// head does not write it), and the rest (`text` itself when there is no head).
    func cutAtHead() -> (head: Substring.UnicodeScalarView, rest: String) {
        let scalars = text.unicodeScalars
        guard headBytes > 0 else { return (scalars[..<scalars.startIndex], text) }
        let cut = text.utf8.index(text.utf8.startIndex, offsetBy: headBytes)
        return (scalars[..<cut], String(scalars[cut...]))
    }
}

/// One attempt to begin for `JobStore.startAttempts(_:)`: the job, and how the attempt continues
/// kept text (nil, nil: from the start).
public struct AttemptStart: Sendable {
    public var job: Int64
    public var continuedFromChars: Int?
    public var continuation: AttemptContinuation?

    public init(job: Int64, continuedFromChars: Int? = nil, continuation: AttemptContinuation? = nil) {
        self.job = job
        self.continuedFromChars = continuedFromChars
        self.continuation = continuation
    }
}

/// One job's answer for `JobStore.complete(_:)`: the job, the attempt that produced it, its row.
public struct JobSuccess: Sendable {
    public var job: Int64
    public var attempt: Int
    public var outcome: JobOutcome

    public init(job: Int64, attempt: Int, outcome: JobOutcome) {
        self.job = job
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// What a runner needs from storage: leases on jobs, the attempts it makes, the text streams
/// receive and how jobs end. `JobQueue` (SQLite, one file shared by the runners of one machine) is
/// the first implementation; a PostgreSQL store shared by runners on many machines (issue 15) is
/// meant to be the second. The scheduler (`BatchRunner`, `JobExecution`, `PartialFlusher`) talks
/// only to this protocol.
///
/// ## Leases
/// A runner holds a job through a lease: an owner (`runnerID`) and an expiry. A claim takes a job
/// nobody holds, or one whose lease expired (its runner died), and every later write of the job
/// checks that the lease is still this runner's: a runner whose lease expired and was taken over
/// writes nothing more to that job (`startAttempt` throws `LeaseLost`, `complete` returns false).
/// Two runners never both stream a job, as long as each renews its leases (`heartbeat`) well
/// before they expire.
///
/// ## Transactions and batching
/// Each requirement is atomic: what it writes is committed all together or not at all. Calls
/// arrive concurrently from many jobs, and the calls per job are few (a claim, a start, an end);
/// none is made per chunk. An implementation should commit the calls that arrive together in
/// few transactions (`JobQueue` group-commits them, `WriteBatcher`), and take the rows of one
/// call in few statements (a PostgreSQL store: `UNNEST` arrays or pipeline mode).
///
/// ## Waiting out the storage
/// `startAttempt`, `complete` and `endAttempt` must not lose what they carry because the storage
/// is briefly unavailable (another process holds the write lock, a full disk within its grace
/// period): they retry until they commit, or until the calling task is cancelled (the run stops).
/// Every other requirement fails at once; its caller tries again later.
///
/// Why an existential (`any JobStore`) and not a generic parameter threaded through the
/// scheduler: every requirement is a transaction or a batch of rows, never a per-chunk call (the
/// chunks go to the stream's accumulator; the flusher takes a snapshot every flush interval), so
/// one indirect call per transaction is noise next to the transaction itself.
///
/// A store also holds what its runners share of each provider: its rate budget and its pauses
/// (`ProviderBudgets`).
public protocol JobStore: ProviderBudgets, BatchBudgets {
    /// This runner's identity, the owner of every lease it takes.
    var runnerID: String { get }

    // MARK: The runner

    /// Records this runner as alive, and clears what dead submitters left behind.
    func registerRunner() async throws
    /// Records that this runner stopped (after `releaseAll`).
    func unregisterRunner() async throws
    /// Extends every lease this runner holds to `leaseSeconds` from now, and records the runner as
    /// alive, in one transaction. Runs every `leaseSeconds / 3`. First checks the storage is still
    /// the one the runner opened (`checkStorage`): nothing is written to another one.
    func heartbeat(leaseSeconds: Double) async throws
    /// Throws when the storage this store writes to is no longer the one the user named
    /// (`DatabaseFileLost`: the SQLite file was deleted or replaced). A store without that
    /// failure returns.
    func checkStorage() async throws
    /// Makes everything committed durable in the storage the user backs up (SQLite: copies the
    /// WAL into the main file). Best effort, at the end of a run; a no-op where a commit already is.
    func checkpoint() async throws

    // MARK: Leases

    /// Leases up to `limit` runnable jobs to this runner for `leaseSeconds`, in one transaction:
    /// pending jobs whose backoff has passed, and running jobs whose lease expired and is not this
    /// runner's own (a late heartbeat here must not run a job twice). Only jobs of live (pending or
    /// running) batches, of `batch` when given, and of no model in `excludingModels`. The jobs
    /// become `running` with this runner's lease; attempts of a runner that died are ended as
    /// interrupted; their batches become `running`.
    ///
    /// Claim order, across batches: the highest `priority` first, then the oldest job (lowest id)
    /// among equal priorities; a job taken back from an expired lease keeps its place in that
    /// order. The jobs are returned in it (the runner starts them in it). A store keeps the claim
    /// cheap however long the queue: SQLite walks an index in this order and stops at `limit`.
    ///
    /// Atomic against other runners: a job is leased to at most one runner. SQLite takes the write
    /// lock for the whole claim (`BEGIN IMMEDIATE`); PostgreSQL would select the rows
    /// `FOR UPDATE SKIP LOCKED`, so that concurrent claims take different jobs without waiting.
    ///
    /// `distinctRequests` (a run with the request cache): a pending job whose request key is
    /// another running job's, or another claimed one's, stays pending, so identical requests run
    /// once and the others find the answer in the cache; `requestsThatSample` says whether keys
    /// of requests that sample count (`--cache-sampled`).
    func claim(limit: Int, leaseSeconds: Double, batch: String?, excludingModels: Set<String>,
               distinctRequests: DistinctRequests?) async throws -> [ClaimedJob]
    /// Gives one job of this runner back to the queue untouched (no attempt began): pending again,
    /// or cancelled when its batch was cancelled meanwhile.
    func release(job: Int64) async throws
    /// Gives back every job this runner still holds (shutdown), keeping their partial output.
    func releaseAll() async throws

    // MARK: Attempts

    /// Begins attempt number `attempts + 1` of each job, which this runner holds, and returns each
    /// one's number, or its own error: `LeaseLost` (nothing written for it) when the lease is not
    /// this runner's any more, and the attempt must not be made. In the order given; the starts of
    /// one call may share a transaction. Waits out an unavailable storage (see above). One call for
    /// the jobs that start together: the run loop waits once for all of them, not once a job.
    func startAttempts(_ starts: [AttemptStart]) async -> [Result<Int, any Error>]
    /// Writes the latest text of many streaming jobs, one batch per call, all or none. Only jobs
    /// still `running` under this runner's lease are written; others are skipped silently. Fails
    /// at once when the storage is busy: the flusher writes the newer text next round.
    ///
    /// Returns the jobs whose write was refused because it counted on a stored head
    /// (`PartialText.headStored`) that is not there, or not this runner's: nothing was written
    /// for them, and the flusher writes their whole text next round.
    @discardableResult
    func savePartials(_ partials: [PartialText]) async throws -> Set<Int64>
    /// Ends jobs this runner holds as succeeded, each on its own: its output, usage and timings,
    /// the attempt's end and its charge, in one transaction (the jobs of one call may share it).
    /// Each job's result is true, or false when its lease was lost (only the attempt's end is
    /// written then, as `lease_lost`, with its charge: the other runner's result stands), or its
    /// own error; in the order given. Waits out an unavailable storage. One call for the streams
    /// that ended together: the run loop waits once for all of them, not once a job.
    func complete(_ successes: [JobSuccess]) async -> [Result<Bool, any Error>]
    /// Ends an attempt that did not succeed, in one transaction with the job's new state:
    /// `retryAt` set, the job is pending again from then (by any runner; cancelled if its batch
    /// was); nil, it ends in `finalState` (`failed` or `cancelled`). `outcome` names the attempt's
    /// end (`retry`, `interrupted`, `restart`…). `countsAsAttempt` false: the attempt does not use
    /// up the job's retries. Keeps the failure's partial text (or the job's earlier one), releases
    /// the lease. Waits out an unavailable storage.
    func endAttempt(job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                    finalState: JobState.Final, countsAsAttempt: Bool) async throws
    /// Ends a job this runner holds without an attempt (its batch was cancelled, its provider is
    /// unknown): `state` with `kind` and `message`, lease released.
    func endWithoutAttempt(job: Int64, state: JobState.Final, kind: FailureKind, message: String) async throws

    /// Cuts a stopping run short (a second signal, or the stop outlasted its grace period):
    /// writes `partials`, ends this runner's open attempts as interrupted and gives back every job
    /// it holds, as a graceful stop would have, in one transaction. Synchronous and on a
    /// connection of its own, never through the store's serialized work (which may be what
    /// hangs): the process exits right after it returns.
    func abandon(partials: [PartialText]) throws

    // MARK: Reading the queue

    /// What is left for this run: pending jobs, jobs leased by other runners, and the earliest
    /// moment one becomes runnable (a backoff ending, a lease expiring). Same scope as `claim`.
    func outlook(batch: String?, excludingModels: Set<String>) async throws -> QueueOutlook
    /// Job counts by state (states with jobs only), of `batch` or of every visible batch.
    func counts(batch: String?) async throws -> [String: Int]
    /// The models of the jobs still to run (pending or running, in live batches), with how many each.
    func pendingModels(batch: String?) async throws -> [String: Int]
    /// The cancelled batches. Read twice a second, so it must be cheap (no write).
    func cancelledBatches() async throws -> Set<String>
    /// True when the batch exists and its submit is committed.
    func batchExists(_ id: String) async throws -> Bool
    /// Marks the live batches with no pending or running job as completed.
    func completeFinishedBatches() async throws

    // MARK: What runs learn about models

    /// The models that refused a prefill in earlier runs, with the provider's message.
    func prefillRefusals() async throws -> [String: String]
    /// Remembers that `model` refused a prefill, for later runs.
    func recordPrefillRefusal(model: String, message: String) async throws

    // MARK: The request cache (docs/cost.md)

    /// Gives a request key (`RequestKey`, through `keyOf(model, request, url)`) to every job that has
    /// none and may be run or reused by a cached run: the pending jobs of `batch` (of every live
    /// batch when nil), and succeeded jobs with a reusable answer (`stop`, `tool_calls`) in any
    /// batch. A few thousand rows per transaction; returns how many were keyed.
    func fillRequestKeys(batch: String?, keyOf: @Sendable (_ model: String, _ request: String, _ url: String?) -> RequestKey?) async throws -> Int
    /// The reusable answers (succeeded with `stop` or `tool_calls`, never cleared, paid for: not
    /// themselves served from the cache) to requests of these keys, one per key (the earliest), by key.
    func cachedAnswers(keys: [String]) async throws -> [String: CachedAnswer]
    /// Ends each job as succeeded with its answer from the cache: no attempt, cost 0, `cached_from`
    /// set, `request_key` kept. Only jobs this runner holds; returns the ids written (a job whose
    /// lease was lost is left to the runner that took it). Waits out an unavailable storage.
    func completeFromCache(_ served: [(job: Int64, key: String, answer: CachedAnswer)]) async throws -> [Int64]

    // MARK: Resume

    /// Puts a batch's jobs back in the queue (`choreo resume`): interrupted ones and failures of
    /// `retryableKinds` (every failure with `all`), each with a fresh attempt budget, and reopens
    /// the batch if it completed, in one transaction. Returns how many jobs.
    func resume(batch: String, all: Bool, retryableKinds: [FailureKind]) async throws -> Int
}

extension JobStore {
    /// `claim` with no model left out.
    public func claim(limit: Int, leaseSeconds: Double, batch: String?) async throws -> [ClaimedJob] {
        try await claim(limit: limit, leaseSeconds: leaseSeconds, batch: batch, excludingModels: [], distinctRequests: nil)
    }

    /// `claim` with no request cache.
    public func claim(limit: Int, leaseSeconds: Double, batch: String?, excludingModels: Set<String>) async throws -> [ClaimedJob] {
        try await claim(limit: limit, leaseSeconds: leaseSeconds, batch: batch, excludingModels: excludingModels, distinctRequests: nil)
    }

    /// `outlook` with no model left out.
    public func outlook(batch: String?) async throws -> QueueOutlook {
        try await outlook(batch: batch, excludingModels: [])
    }

    /// Ends one job this runner holds as succeeded (`complete(_:)`): false when its lease was lost.
    @discardableResult
    public func complete(job: Int64, attempt: Int, outcome: JobOutcome) async throws -> Bool {
        try await complete([JobSuccess(job: job, attempt: attempt, outcome: outcome)])[0].get()
    }

    /// Begins one attempt (`startAttempts`); throws `LeaseLost` when the job's lease is lost.
    public func startAttempt(job: Int64, continuedFromChars: Int?, continuation: AttemptContinuation? = nil) async throws -> Int {
        try await startAttempts([AttemptStart(job: job, continuedFromChars: continuedFromChars, continuation: continuation)])[0].get()
    }

    /// `endAttempt` of an attempt that counts, ending the job as failed when it is not retried.
    public func endAttempt(job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                           finalState: JobState.Final = .failed) async throws {
        try await endAttempt(job: job, attempt: attempt, failure: failure, outcome: outcome, retryAt: retryAt,
                             finalState: finalState, countsAsAttempt: true)
    }

    /// `endAttempt` of an attempt that ends the job as failed unless retried.
    public func endAttempt(job: Int64, attempt: Int, failure: AttemptFailure, outcome: AttemptOutcome, retryAt: Double?,
                           countsAsAttempt: Bool) async throws {
        try await endAttempt(job: job, attempt: attempt, failure: failure, outcome: outcome, retryAt: retryAt,
                             finalState: .failed, countsAsAttempt: countsAsAttempt)
    }
}
