public import ChoreoAI
import Foundation
import ChoreoLocking

/// How a run ended, and the exit code it maps to.
public struct RunSummary: Sendable {
    public enum Ending: Sendable {
        case finished, deadline, interrupted
        /// Only jobs of providers the run gave up waiting for were left (`unreachable`).
        case unreachable
        /// The database could not be written for `RunOptions.storageWait` (a full disk, an I/O
        /// error), or its file was deleted or replaced: `stoppedBy` says which.
        case storageFull, databaseLost
        /// A budget was reached: the next job's worst case did not fit what was left (`budget`).
        case budget
    }
    public var ending: Ending
    public var succeeded: Int
    public var failed: Int
    /// Jobs still pending or running (in this run's scope) when it ended.
    public var left: Int
    /// Batches cancelled (`choreo cancel`) while this run had their jobs: their streams were
    /// stopped and their jobs ended as cancelled.
    public var cancelledBatches: [String] = []
    /// Providers the run gave up waiting for (an outage past its limit), with their jobs left.
    public var unreachable: [UnreachableProvider] = []
    /// Providers the run stopped (a bad key, an exhausted quota), with their jobs not sent.
    public var stoppedProviders: [StoppedProvider] = []
    /// For `storageFull` and `databaseLost`: the fault, naming the file.
    public var stoppedBy: String?
    /// The cap that was reached (`ending == .budget`): its limit and what was spent under it.
    public var budget: BudgetLedger.Cap?
    /// What the request cache did (nil: the run had none).
    public var cache: CacheSummary?

    /// 0 every job succeeded; 1 some failed for good; 3 work left (deadline, interruption, or jobs
    /// held by another runner); 75 the disk is full; 74 the database file was lost. Signals map to
    /// 130/143 in the command.
    public var exitCode: Int32 {
        if ending == .storageFull { return 75 }
        if ending == .databaseLost { return 74 }
        if left > 0 || ending != .finished { return 3 }
        return failed > 0 ? 1 : 0
    }
}

/// Runs every runnable job of a database (or one batch) with at most `concurrency` streams in
/// flight: a task group fed from the queue as slots free up (never a task per job up front),
/// a flusher writing partial outputs every `flushInterval`, and a heartbeat renewing leases.
///
/// A claim's jobs start in one task: it decides each one's attempt, begins the attempts of those
/// that may go now in one call of the store (one wait, one group commit) and sends their
/// requests; a job that must wait first (its budget, its model's cap, its provider's gate) gets a
/// task of its own, so that no job waits behind another. No task waits for a head or a stream:
/// the head is taken on the transport's thread, the stream is parsed there, and its end (or the
/// failure that came before a head) comes back through `StreamEnds`. Ten thousand open streams
/// are ten thousand small objects, not ten thousand tasks. One task at a time takes the streams
/// that ended and writes the answers of those that ended well, in one call of the store, before
/// it reports them; the streams that end meanwhile are the next taker's. A failed stream's end
/// has a task of its own.
///
/// Stopping: cancel the task running `run()` (the command does it on SIGINT/SIGTERM). Streams end,
/// their partial output is written, their jobs go back to pending, and `run()` returns. The loop
/// wakes at least every `wakeInterval` whatever the streams do, so a signal, the deadline or a
/// cancelled batch is acted on within it. A stop that hangs can be cut short with `abandon()`.
public final class BatchRunner: Sendable {
    /// Where the jobs are: a SQLite file or a PostgreSQL database.
    public let location: StoreLocation
    /// The location as shown in messages (a path, or a URL without its password).
    public var databasePath: String { location.description }
    public let options: RunOptions
    public let client: ChoreoClient
    public let events: RunEvents
    public let runnerID: String
    /// The running `run()`'s flusher, for `abandon()`.
    private let liveFlusher = Locked<PartialFlusher?>(nil)
    /// The running `run()`'s storage state: `abandon()` writes nothing to a lost file.
    private let liveStorage = Locked<StorageHealth?>(nil)
    /// The store `run()` opened, for `abandon()`. Kept after `run()` returns: jobs it could not
    /// give back (a full disk) can still be given back by a late `abandon()`.
    private let liveStore = Locked<(any JobStore)?>(nil)

    /// The longest the run loop sleeps, and how often cancelled batches are looked up: a signal,
    /// the deadline and `choreo cancel` are noticed within it.
    static let wakeInterval = 0.5
    /// The shortest wait for a backoff to end while jobs are in flight.
    static let shortestWait = 0.05

    /// A runner of the SQLite database at `databasePath`.
    public convenience init(databasePath: String, options: RunOptions, router: ProviderRouter, events: RunEvents = RunEvents()) {
        self.init(location: .sqlite(path: databasePath), options: options, router: router, events: events)
    }

    public init(location: StoreLocation, options: RunOptions, router: ProviderRouter, events: RunEvents = RunEvents()) {
        self.location = location
        self.options = options
        // Run-wide provider settings are applied once here, not to each job's copy of its provider.
        var router = router
        for i in router.providers.indices {
            if options.continuePartial { router.providers[i].supportsPrefill = true }
            if let s = options.stallTimeout { router.providers[i].stallTimeout = s }
            if let s = options.firstByteTimeout { router.providers[i].firstByteTimeout = s }
            if let t = options.timeout { router.providers[i].timeout = t }
        }
        self.client = ChoreoClient(router: router)
        self.events = events
        let host = ProcessInfo.processInfo.hostName
        self.runnerID = "runner-\(host)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// What a child task of the run loop reports. A claim's jobs start in one task (`started`),
    /// a job that must wait first in one of its own; no task waits for a stream: its end arrives
    /// through `StreamEnds`, and the task that took it writes the answers of the streams that ended
    /// well before it reports them (`ended`); a failed stream's end gets a task of its own
    /// (`finished`).
    private enum ChildResult: Sendable {
        /// `waited`: the task started one job that had to wait first (`Started.waiting`).
        case started(JobExecution.Started, waited: Bool)
        case ended(succeeded: [(result: JobResult, batch: String)], failed: [(stream: EndedStream, error: any Error)])
        case finished(JobResult, batch: String)
        /// An embeddings request (several jobs, one slot) is over: each job's result.
        case embedded([(result: JobResult, batch: String)])
        case tick
    }

    /// At most this many jobs are starting at once (deciding, waiting to be admitted, beginning
    /// their attempts): a job waiting to be admitted holds a task and its stack.
    static let maxSending = 512

    public func run() async throws -> RunSummary {
        if let limit = options.maxConnections { client.transport.limitConnections(to: limit) }
        let storage = StorageHealth(wait: options.storageWait, onChange: { [events = self.events, databasePath = self.databasePath] change in
            switch change {
            case .faulted(let error, let until):
                events.storage(StorageFault(reason: StorageHealth.reason(error, path: databasePath), since: Date(), stopsAt: until), log: (.error,
                    "\(StorageHealth.describe(error, path: databasePath)): no job starts; the streams in flight go on, "
                    + "their text kept in memory, while the writes are retried until \(ISO8601DateFormatter().string(from: until)) (--storage-wait)"))
            case .recovered:
                events.storage(nil, log: (.info, "the database is writable again (\(databasePath)): starting jobs again"))
            case .lost(let lost):
                events.log(.error, "\(lost): stopping; what this run writes from now on would not be in that file")
            }
        })
        liveStorage.withLock { $0 = storage }
        let queue = try location.openStore(runnerID: runnerID, busyTimeout: options.busyTimeout, leaseSeconds: options.leaseSeconds,
                                           storage: storage)
        liveStore.withLock { $0 = queue }
        if let batch = options.batch, !(try await queue.batchExists(batch)) {
            throw RunError.unknownBatch(batch)
        }
        try await preflight(queue)
        let budget = try budgetLedger()
        let cache = try options.cache.map { try RunCache(options: $0, runOptions: options, client: client, events: events) }
        if let cache { _ = try await cache.prepare(queue, batch: options.batch) }
        try await queue.registerRunner()
        let counts = try await queue.counts(batch: options.batch)
        let finishedBefore = ["succeeded", "failed", "cancelled"].reduce(0) { $0 + (counts[$1] ?? 0) }
        events.begin(total: counts.values.reduce(0, +), doneBefore: finishedBefore)
        let cancelledBefore = counts["cancelled"] ?? 0

        let control = RunControl()
        control.prefillRefusals.load(try await queue.prefillRefusals())
        control.setCancelled(try await queue.cancelledBatches())
        let flusher = PartialFlusher(queue: queue)
        let leases = LeaseKeeper(store: queue, leaseSeconds: options.leaseSeconds, storage: storage, events: events,
                                 control: control, flusher: flusher, client: client)
        try await leases.renew()
        self.liveFlusher.withLock { $0 = flusher }
        defer { self.liveFlusher.withLock { $0 = nil } }
        // Budgets and pauses shared with every runner on the database (issue 15).
        let gates = ProviderGates(defaultRPM: options.requestsPerMinute, defaultTPM: options.tokensPerMinute,
                                  outagePolicy: options.outagePolicy, events: events, budgets: queue)

        // Background duties, cancelled when the feeding loop ends.
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await flusher.run(interval: self.options.flushInterval) }
                group.addTask { await leases.run() }
                // `choreo cancel` from another process: stop the batch's streams within a wake.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(Self.wakeInterval * 1e9))
                        if Task.isCancelled { break }
                        if let cancelled = try? await queue.cancelledBatches() {
                            control.setCancelled(cancelled)
                            flusher.cancelStreams(of: cancelled)
                            if !cancelled.isEmpty { await self.countCancelled(queue, before: cancelledBefore) }
                        }
                    }
                }
            }
        }

        var ending = RunSummary.Ending.finished
        var succeeded = 0, failed = 0
        var cancelledBatches: Set<String> = []
        let shared = RunContext(queue: queue, client: client, gates: gates, control: control, flusher: flusher,
                                options: options, events: events, budget: budget, cache: cache)
        await withTaskGroup(of: ChildResult.self) { group in
            var inFlight = 0      // claimed and not yet finished, whatever the phase
            var sending = 0       // jobs in `started` tasks
            var waiting = 0       // of those, jobs waiting to be admitted (their budget, model's cap, provider's gate)
            // Requests out with no task, whose ends are still to be taken. A start task reports its
            // requests once it sent them all, so an end may be taken first: the count then dips
            // below the true one for a moment, never above (a taker waits only for ends to come).
            var streaming = 0
            var taking = false    // a task waits on `ends`
            var timerPending = false
            let ends = StreamEnds()
            let minimumClaim = max(1, min(32, options.concurrency / 8))
            // The last claim came back full and no job has ended since: claim what is free, however
            // little (else the last few slots of a large --concurrency wait for the first job to end).
            var burst = false
            // The last claim came back full: runnable jobs are left, so the next tick is the
            // shortest one without asking the queue (see the timer below).
            var runnableLeft = false
            var quietUntil = 0.0  // no claim before this: the queue had nothing runnable
            var durations: [Double] = []  // recent successful job durations, for the deadline
            var typicalDuration = 0.0     // their 90th percentile
            var heldBack: Set<String> = []  // models of providers given up: not claimed again
            var budgetReached = false       // claim nothing more; in-flight jobs end within their reservations
            // Claimed embeddings jobs waiting for their shared request to fill (not in flight yet).
            var embeddings = EmbeddingsBatcher(client: client, control: control)
            func count(_ result: JobResult, batch: String) {
                burst = false
                switch result {
                case .succeeded(let seconds):
                    succeeded += 1
                    durations.append(seconds)
                    if durations.count > 200 { durations.removeFirst(durations.count - 200) }
                    if options.deadline != nil { typicalDuration = durations.sorted()[durations.count * 9 / 10] }
                case .failed: failed += 1
                case .cancelled: cancelledBatches.insert(batch)
                case .heldBack(let model): heldBack.insert(model)
                case .budgetReached: budgetReached = true
                default: break
                }
            }
            func handle(_ r: ChildResult, _ group: inout TaskGroup<ChildResult>) {
                switch r {
                case .tick: timerPending = false
                case .started(let started, let waited):
                    sending -= started.left  // the waiting go on in tasks of their own
                    waiting += started.waiting.count - (waited ? 1 : 0)
                    streaming += started.launched
                    inFlight -= started.done.count
                    for r in started.done { count(r.result, batch: r.batch) }
                    for p in started.waiting {
                        group.addTask { .started(await JobExecution.start(waiting: p, ends: ends), waited: true) }
                    }
                case .ended(let succeeded, let failed):
                    taking = false
                    streaming -= succeeded.count + failed.count
                    inFlight -= succeeded.count
                    for r in succeeded { count(r.result, batch: r.batch) }
                    for (e, error) in failed {
                        group.addTask { .finished(await e.execution.finish(e, failedWith: error), batch: e.execution.job.batchID) }
                    }
                case .finished(let result, let batch):
                    inFlight -= 1
                    count(result, batch: batch)
                case .embedded(let results):
                    sending -= 1
                    inFlight -= 1
                    for r in results { count(r.result, batch: r.batch) }
                }
                if streaming > 0 && !taking {
                    taking = true
                    group.addTask {
                        // Streams ending while these answers are written are the next taker's.
                        var succeeded: [EndedStream] = [], failed: [(stream: EndedStream, error: any Error)] = []
                        for e in await ends.take() {
                            if case .failure(let error) = e.end { failed.append((e, error)) } else { succeeded.append(e) }
                        }
                        let results = await JobExecution.finish(succeeded: succeeded)
                        return .ended(succeeded: zip(results, succeeded).map { ($0, $1.execution.job.batchID) }, failed: failed)
                    }
                }
                events.inFlight(inFlight - waiting, waiting: waiting)
            }
            while true {
                if Task.isCancelled { ending = .interrupted; break }
                if storage.lost != nil { ending = .databaseLost; break }
                if storage.exhausted != nil { ending = .storageFull; break }
                if let deadline = options.deadline {
                    if Date().addingTimeInterval(typicalDuration).timeIntervalSince(deadline) >= 0 { ending = .deadline; break }
                }
                // A request still filling holds its slot: however many keys the claims bring, no more
                // requests start than --concurrency allows.
                let slots = options.concurrency - inFlight - embeddings.requestsFilling, sendRoom = Self.maxSending - sending - embeddings.requestsFilling
                let free = min(slots, sendRoom)
                var claimed: [ClaimedJob] = []
                var claimedFull = false
                // Claim in batches (a claim is a write transaction), and not again right after the
                // queue came back short: it was measured at over half of a firehose run's CPU.
                let now = Date().timeIntervalSince1970
                let batchReady = free >= minimumClaim || inFlight == 0 || (burst && slots <= sendRoom)
                // While the database refuses writes no job starts; with nothing in flight, a claim once
                // a second finds out when it takes writes again (it is a write).
                let writable = !storage.isFaulty || inFlight == 0
                if free > 0 && batchReady && now >= quietUntil && writable && !budgetReached && !control.leasesLapsed {
                    let wanted = min(free, 256)
                    do {
                        claimed = try await queue.claim(limit: wanted, leaseSeconds: options.leaseSeconds, batch: options.batch,
                                                        excludingModels: heldBack, distinctRequests: cache?.distinctRequests)
                    } catch {
                        if !storage.failed(error) { events.log(.error, "could not claim jobs: \(error)") }
                    }
                    if !claimed.isEmpty { storage.committed() }
                    burst = claimed.count == wanted
                    claimedFull = burst
                    runnableLeft = burst
                    if claimed.count < wanted { quietUntil = now + (storage.isFaulty ? 1 : 0.2) }
                    if let cache, !claimed.isEmpty {
                        do {
                            let toSend = try await cache.serve(claimed, store: queue)
                            succeeded += claimed.count - toSend.count
                            claimed = toSend
                        } catch {
                            // Nothing was answered from the cache: the jobs are sent as they would be without one.
                            events.log(.warning, "cache: could not look up \(claimed.count) jobs (\(error)); sending them")
                        }
                    }
                }
                func execution(_ job: ClaimedJob) -> JobExecution { JobExecution(job: job, shared: shared) }
                // An embeddings request is one request in flight however many jobs share it.
                func sendEmbeddings(_ requests: [[ClaimedJob]]) {
                    for jobs in requests {
                        inFlight += 1
                        sending += 1
                        let request = EmbeddingsRequest(members: jobs.map(execution))
                        group.addTask { .embedded(await request.send()) }
                    }
                }
                var starting: [JobExecution] = []
                for job in claimed {
                    if job.endpoint == .embeddings {
                        sendEmbeddings(embeddings.add(job))
                        continue
                    }
                    starting.append(execution(job))
                }
                if !starting.isEmpty {
                    inFlight += starting.count
                    sending += starting.count
                    group.addTask { [starting] in .started(await JobExecution.start(starting, ends: ends), waited: false) }
                }
                let claimsAgain = !claimed.isEmpty && inFlight + embeddings.requestsFilling < options.concurrency
                    && sending + embeddings.requestsFilling < Self.maxSending
                // Embeddings jobs wait for more of their kind only while the next claim follows at
                // once and the last one came back full; otherwise their requests go now.
                if !(claimsAgain && claimedFull) { sendEmbeddings(embeddings.flush()) }
                events.inFlight(inFlight - waiting, waiting: waiting)
                if claimsAgain { continue }
                if inFlight == 0 && budgetReached { ending = .budget; break }
                if inFlight == 0 {
                    let outlook = (try? await queue.outlook(batch: options.batch, excludingModels: heldBack)) ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
                    if outlook.pending == 0 && outlook.heldByOthers == 0 { break }
                    let wait = max(0.01, quietUntil - Date().timeIntervalSince1970, min(Self.wakeInterval, (outlook.nextWake ?? 0) - Date().timeIntervalSince1970))
                    try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                    continue
                }
                // Jobs are in flight: wait for one to move on, for backed-off jobs to become runnable,
                // or at most `wakeInterval`, so that the checks above run even while every slot streams
                // (a cancelled run wakes at once: the timer's sleep is cancelled with it).
                if !timerPending {
                    timerPending = true
                    var wait = Self.wakeInterval
                    if inFlight < options.concurrency {
                        // With runnable jobs left the outlook's wake is now, and the wait its
                        // shortest; asking anyway read every live job every 50 ms (4% of a firehose).
                        if runnableLeft {
                            wait = Self.shortestWait
                        } else {
                            let outlook = (try? await queue.outlook(batch: options.batch, excludingModels: heldBack)) ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
                            wait = max(Self.shortestWait, min(wait, (outlook.nextWake ?? Date().timeIntervalSince1970 + 1) - Date().timeIntervalSince1970))
                        }
                    }
                    group.addTask {
                        try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                        return .tick
                    }
                }
                if let r = await group.next() { handle(r, &group) }
            }
            // Stopping (deadline or signal): interrupt what is in flight; each job goes back to
            // pending with its partial output. Requests and streams have no task to cancel: stop
            // them (the tasks that write their ends are added to a cancelled group, so they see
            // it); a stream beginning from now on cancels itself (`RunControl.isStopping`).
            // Cancelling also wakes a pending backoff timer, which would otherwise hold the run open up to 1 s.
            control.setStopping()
            client.stopRequests()
            group.cancelAll()
            flusher.cancelAllStreams()
            while let r = await group.next() { handle(r, &group) }
        }
        background.cancel()
        await background.value
        // A pause the other runners must heed (a 429, an outage's end) is written before the process can exit.
        await gates.noticesShared()
        // Nothing more is written to a file that is no longer the user's.
        if storage.lost == nil {
            try? await flusher.flush()
            do {
                try await queue.releaseAll()
                try await queue.completeFinishedBatches()
                await countCancelled(queue, before: cancelledBefore)
                try await queue.unregisterRunner()
            } catch {
                // The disk is full: the jobs still leased come back when their leases expire.
                guard storage.failed(error) else { throw error }
                ending = .storageFull
            }
            // The results are in the main file, not only in its WAL, when the process exits (a copy of
            // the file alone is a whole backup). Another runner still writing can keep it from finishing.
            try? await queue.checkpoint()
            // Never a success for results that are not in the file at the path.
            do { try await queue.checkStorage() } catch { storage.failed(error) }
            if storage.lost != nil { ending = .databaseLost }
        }
        let outlook = try await queue.outlook(batch: options.batch)
        var left = outlook.pending + outlook.heldByOthers
        var stoppedBy: String?
        if let lost = storage.lost {
            stoppedBy = "\(lost)"
        } else if ending == .storageFull, let fault = storage.exhausted ?? storage.faultError {
            stoppedBy = StorageHealth.describe(fault, path: databasePath)
            // Jobs this runner could not give back are left too.
            let counts = try await queue.counts(batch: options.batch)
            left = (counts["pending"] ?? 0) + (counts["running"] ?? 0)
        }
        var summary = RunSummary(ending: ending, succeeded: succeeded, failed: failed, left: left,
                                 cancelledBatches: cancelledBatches.sorted())
        summary.stoppedBy = stoppedBy
        summary.unreachable = try await stranded(by: gates.givenUp, queue)
        summary.stoppedProviders = control.stopped
        if summary.ending == .finished && !summary.unreachable.isEmpty { summary.ending = .unreachable }
        if ending == .budget { summary.budget = budget?.reached ?? budget?.run }
        summary.cache = cache?.summary
        return summary
    }

    /// Shows in the progress the jobs in scope cancelled since the run started (`before` were
    /// cancelled already): most by another process, which the runner learns only from the database.
    private func countCancelled(_ queue: any JobStore, before: Int) async {
        guard let counts = try? await queue.counts(batch: options.batch) else { return }
        events.cancelled(max(0, (counts["cancelled"] ?? 0) - before))
    }

    /// Cuts a stopping run short (a second signal, or the stop outlasted its grace period): writes
    /// the text every stream has received so far and gives back every job this runner holds, on a
    /// connection of its own and synchronously, so the caller can exit the process right after.
    /// The `run()` task is left as it is.
    public func abandon() throws {
        // The file at the path is another one now (or none: opening it would create it).
        if liveStorage.withLock({ $0 })?.lost != nil { return }
        // No store yet: `run()` has claimed nothing.
        guard let store = liveStore.withLock({ $0 }) else { return }
        let received = liveFlusher.withLock { $0 }?.received() ?? []
        try store.abandon(partials: received)
    }
}

extension BatchRunner {
    /// Refuses to start when a provider the pending jobs need has no key: failing every job with
    /// "no key" would only make the user resume them all once the key is set.
    func preflight(_ queue: any JobStore) async throws {
        var missing: [String: (variable: String, jobs: Int, models: [String])] = [:]
        for (model, count) in try await queue.pendingModels(batch: options.batch).sorted(by: { $0.key < $1.key }) {
            guard let provider = try? client.provider(for: model) else { continue }  // the job fails with no_provider
            if let variable = provider.missingKeyVariable {
                var entry = missing[provider.name] ?? (variable, 0, [])
                entry.jobs += count
                entry.models.append(model)
                missing[provider.name] = entry
            }
        }
        if !missing.isEmpty {
            throw RunError.missingKeys(missing.sorted { $0.key < $1.key }.map { name, e in
                "\(e.variable) is not set: provider \(name) is needed by \(e.jobs) pending jobs (\(e.models.prefix(3).joined(separator: ", ")))"
            })
        }
    }
}

/// A run could not start.
public enum RunError: Error, CustomStringConvertible {
    case unknownBatch(String)
    case missingKeys([String])
    /// Jobs under a budget whose cost cannot be bounded (no price, no max_tokens).
    case unboundedUnderBudget([String])
    /// A feature the PostgreSQL store does not have yet (issue 15).
    case notOnPostgres(String)

    public var description: String {
        switch self {
        case .unknownBatch(let id): return "no batch \(id) in this database (see `choreo status`)"
        case .missingKeys(let lines):
            return lines.joined(separator: "\n") + "\nSet the key in the environment (or use --mock to rehearse without one); no job was touched."
        case .notOnPostgres(let feature):
            return "\(feature) is not supported with a PostgreSQL database yet (docs/postgres.md); nothing was run"
        case .unboundedUnderBudget(let lines):
            return lines.map { "budget: " + $0 }.joined(separator: "\n") + "\nA budget needs every job's worst-case cost; nothing was spent."
        }
    }
}
