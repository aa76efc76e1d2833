import ChoreoAI
import ChoreoLocking

/// What the request cache did in one run.
public struct CacheSummary: Sendable, Equatable {
    /// Jobs answered from the cache instead of being sent.
    public var served = 0
    /// What their answers had cost (unknown costs count 0).
    public var savedUSD = 0.0
    /// Jobs sent although they were looked up: no reusable answer yet.
    public var missed = 0
    /// Jobs sent without a lookup because their request samples and `--cache-sampled` was not given.
    public var sampled = 0
}

/// The request cache as a run uses it: keys the jobs it may run or reuse before the first claim,
/// answers claimed jobs from the database's own answers (then from the shared file) instead of
/// sending them, and gives the shared file every reusable answer the run gets.
final class RunCache: Sendable {
    let options: CacheOptions
    let runOptions: RunOptions
    let client: ChoreoClient
    let file: CacheFile?
    let events: RunEvents
    private let counters = Locked(CacheSummary())

    init(options: CacheOptions, runOptions: RunOptions, client: ChoreoClient, events: RunEvents) throws {
        self.options = options
        self.events = events
        self.runOptions = runOptions
        self.client = client
        self.file = try options.sharedPath.map { try CacheFile(path: $0, busyTimeout: runOptions.busyTimeout) }
    }

    var summary: CacheSummary { counters.withLock { $0 } }

    /// How claims go with this cache: one job per request at a time.
    var distinctRequests: DistinctRequests { DistinctRequests(includingSampled: options.reuseSampled) }

    /// Keys the jobs that have no key yet (new ones since the last cached run, and those of
    /// databases older than the cache), so that claims can keep identical requests apart.
    func prepare(_ store: any JobStore, batch: String?) async throws -> Int {
        let options = runOptions, client = self.client
        return try await store.fillRequestKeys(batch: batch) { model, request, url in
            options.requestKey(model: model, request: request, path: JobEndpoint(stored: url), client: client)
        }
    }

    /// Answers what it can of `claimed` from the cache, and returns the jobs still to send.
    func serve(_ claimed: [ClaimedJob], store: any JobStore) async throws -> [ClaimedJob] {
        var keys: [Int64: RequestKey] = [:]
        var sampled = 0
        for job in claimed {
            guard let key = runOptions.requestKey(model: job.model, request: job.request, path: job.endpoint, client: client) else { continue }
            if key.samples && !options.reuseSampled { sampled += 1; continue }
            keys[job.id] = key
        }
        let wanted = Set(keys.values.map(\.value)).sorted()
        var answers = try await store.cachedAnswers(keys: wanted)
        if let file {
            let missing = wanted.filter { answers[$0] == nil }
            if !missing.isEmpty {
                do {
                    for (key, answer) in try await file.answers(keys: missing) { answers[key] = answer }
                } catch {
                    events.log(.warning, "cache: could not read \(file.path): \(error); the jobs are sent instead")
                }
            }
        }
        var hits: [(job: Int64, key: String, answer: CachedAnswer)] = []
        var toSend: [ClaimedJob] = []
        for job in claimed {
            if let key = keys[job.id], let answer = answers[key.value] {
                hits.append((job.id, key.value, answer))
            } else {
                toSend.append(job)
            }
        }
        let served = Set(try await store.completeFromCache(hits))
        // A job served elsewhere meanwhile (its lease lost) is neither sent nor counted here.
        let savedUSD = hits.filter { served.contains($0.job) }.reduce(0.0) { $0 + ($1.answer.costUSD ?? 0) }
        counters.withLock {
            $0.served += served.count
            $0.savedUSD += savedUSD
            $0.missed += toSend.count - sampled
            $0.sampled += sampled
        }
        for job in claimed where served.contains(job.id) { events.succeeded(job: job.customID, completionTokens: 0, cached: true) }
        return toSend
    }

    /// Keeps a reusable answer in the shared file (the database keeps its own with the job).
    func remember(_ job: ClaimedJob, key: RequestKey, outcome: JobOutcome) async {
        guard let file, !key.samples || options.reuseSampled, let reason = outcome.finishReason,
              CachedAnswer.reusableFinishReasons.contains(reason), let output = outcome.output else { return }
        let answer = CachedAnswer(output: output, toolCalls: outcome.toolCalls, finishReason: reason,
                                  providerFinishReason: outcome.providerFinishReason, response: outcome.response,
                                  reasoning: outcome.reasoning, requestID: outcome.requestID,
                                  source: "\(job.batchID)/\(job.customID)", costUSD: outcome.charge?.costUSD)
        do {
            try await file.remember(key: key.value, model: job.model, answer: answer)
        } catch {
            events.log(.warning, "cache: could not write \(file.path): \(error)", job: job.customID)
        }
    }
}
