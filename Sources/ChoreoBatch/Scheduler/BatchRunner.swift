import ChoreoAI
import Foundation

/// How a run ended, and the exit code it maps to.
public struct RunSummary: Sendable {
    public enum Ending: Sendable { case finished, deadline, interrupted }
    public var ending: Ending
    public var succeeded: Int
    public var failed: Int
    /// Jobs still pending or running (in this run's scope) when it ended.
    public var left: Int

    /// 0 every job succeeded; 1 some failed for good; 3 work left (deadline, interruption, or jobs
    /// held by another runner). Signals map to 130/143 in the command.
    public var exitCode: Int32 {
        if left > 0 || ending != .finished { return 3 }
        return failed > 0 ? 1 : 0
    }
}

/// Runs every runnable job of a database (or one batch) with at most `concurrency` streams in
/// flight: a task group fed from the queue as slots free up (never a task per job up front),
/// a flusher writing partial outputs every `flushInterval`, and a heartbeat renewing leases.
///
/// Stopping: cancel the task running `run()` (the command does it on SIGINT/SIGTERM). Streams end,
/// their partial output is written, their jobs go back to pending, and `run()` returns.
public final class BatchRunner: Sendable {
    public let databasePath: String
    public let options: RunOptions
    public let client: ChoreoAI
    public let events: RunEvents
    public let runnerID: String

    public init(databasePath: String, options: RunOptions, router: ProviderRouter, events: RunEvents = RunEvents()) {
        self.databasePath = databasePath
        self.options = options
        self.client = ChoreoAI(router: router)
        self.events = events
        let host = ProcessInfo.processInfo.hostName
        self.runnerID = "runner-\(host)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    private enum ChildResult: Sendable { case job(JobResult), tick }

    public func run() async throws -> RunSummary {
        let queue = try JobQueue(path: databasePath, runnerID: runnerID)
        if let batch = options.batch, !(try await queue.batchExists(batch)) {
            throw RunError.unknownBatch(batch)
        }
        try await preflight(queue)
        try await queue.registerRunner()
        let counts = try await queue.counts(batch: options.batch)
        let finishedBefore = ["succeeded", "failed", "cancelled"].reduce(0) { $0 + (counts[$1] ?? 0) }
        events.begin(total: counts.values.reduce(0, +), doneBefore: finishedBefore)

        let control = RunControl()
        control.setCancelled(try await queue.heartbeat(leaseSeconds: options.leaseSeconds))
        let flusher = PartialFlusher(queue: queue)
        let gates = ProviderGates(defaultRPM: options.requestsPerMinute, defaultTPM: options.tokensPerMinute)

        // Background duties, cancelled when the feeding loop ends.
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await flusher.run(interval: self.options.flushInterval) }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(self.options.leaseSeconds / 3 * 1e9))
                        if Task.isCancelled { break }
                        if let cancelled = try? await queue.heartbeat(leaseSeconds: self.options.leaseSeconds) {
                            control.setCancelled(cancelled)
                            flusher.cancelStreams(of: cancelled)
                        }
                    }
                }
            }
        }

        var ending = RunSummary.Ending.finished
        var succeeded = 0, failed = 0
        await withTaskGroup(of: ChildResult.self) { group in
            var inFlight = 0
            var timerPending = false
            let minimumClaim = max(1, min(32, options.concurrency / 8))
            var quietUntil = 0.0  // no claim before this: the queue had nothing runnable
            var durations: [Double] = []  // recent successful job durations, for the deadline
            func handle(_ r: ChildResult) {
                switch r {
                case .tick: timerPending = false
                case .job(let result):
                    inFlight -= 1
                    switch result {
                    case .succeeded(_, let seconds):
                        succeeded += 1
                        durations.append(seconds)
                        if durations.count > 200 { durations.removeFirst(durations.count - 200) }
                    case .failed: failed += 1
                    default: break
                    }
                }
                events.inFlight(inFlight)
            }
            while true {
                if Task.isCancelled { ending = .interrupted; break }
                if let deadline = options.deadline {
                    let typical = durations.isEmpty ? 0 : durations.sorted()[durations.count * 9 / 10]
                    if Date().addingTimeInterval(typical).timeIntervalSince(deadline) >= 0 { ending = .deadline; break }
                }
                let free = options.concurrency - inFlight
                var claimed: [ClaimedJob] = []
                // Claim in batches (a claim is a write transaction), and not again right after the
                // queue came back short: it was measured at over half of a firehose run's CPU.
                let now = Date().timeIntervalSince1970
                if free > 0 && (free >= minimumClaim || inFlight == 0) && now >= quietUntil {
                    let wanted = min(free, 256)
                    do {
                        claimed = try await queue.claim(limit: wanted, leaseSeconds: options.leaseSeconds, batch: options.batch)
                    } catch {
                        events.log(.error, "could not claim jobs: \(error)")
                    }
                    if claimed.count < wanted { quietUntil = now + 0.2 }
                }
                for job in claimed {
                    inFlight += 1
                    let execution = JobExecution(job: job, queue: queue, client: client, gates: gates, control: control,
                                                 flusher: flusher, options: options, events: events)
                    group.addTask { .job(await execution.run()) }
                }
                events.inFlight(inFlight)
                if !claimed.isEmpty && inFlight < options.concurrency { continue }
                if inFlight == 0 {
                    let outlook = (try? await queue.outlook(batch: options.batch)) ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
                    if outlook.pending == 0 && outlook.heldByOthers == 0 { break }
                    let wait = max(0.01, quietUntil - Date().timeIntervalSince1970, min(1, (outlook.nextWake ?? 0) - Date().timeIntervalSince1970))
                    try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                    continue
                }
                // Streams are in flight: wait for one to end, or for backed-off jobs to become runnable.
                if !timerPending && inFlight < options.concurrency {
                    timerPending = true
                    let outlook = (try? await queue.outlook(batch: options.batch)) ?? QueueOutlook(pending: 0, heldByOthers: 0, nextWake: nil)
                    let wait = max(0.05, min(1, (outlook.nextWake ?? Date().timeIntervalSince1970 + 1) - Date().timeIntervalSince1970))
                    group.addTask {
                        try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                        return .tick
                    }
                }
                if let r = await group.next() { handle(r) }
            }
            // Stopping (deadline or signal): interrupt what is in flight; each job goes back to
            // pending with its partial output.
            // Also wakes a pending backoff timer, which would otherwise hold the run open up to 1 s.
            group.cancelAll()
            while let r = await group.next() { handle(r) }
        }
        background.cancel()
        await background.value
        try? await flusher.flush()
        try await queue.releaseAll()
        try await queue.completeFinishedBatches()
        try await queue.unregisterRunner()
        let outlook = try await queue.outlook(batch: options.batch)
        return RunSummary(ending: ending, succeeded: succeeded, failed: failed, left: outlook.pending + outlook.heldByOthers)
    }
}

extension BatchRunner {
    /// Refuses to start when a provider the pending jobs need has no key: failing every job with
    /// "no key" would only make the user resume them all once the key is set.
    func preflight(_ queue: JobQueue) async throws {
        var missing: [String: (variable: String, jobs: Int, models: [String])] = [:]
        for (model, count) in try await queue.pendingModels(batch: options.batch).sorted(by: { $0.key < $1.key }) {
            guard let provider = try? client.provider(for: model) else { continue }  // the job fails with no_provider
            if provider.apiKey == nil, let variable = provider.apiKeyVariable, !JobExecution.isLocal(provider.baseURL) {
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

    public var description: String {
        switch self {
        case .unknownBatch(let id): return "no batch \(id) in this database (see `choreo status`)"
        case .missingKeys(let lines):
            return lines.joined(separator: "\n") + "\nSet the key in the environment (or use --mock to rehearse without one); no job was touched."
        }
    }
}
