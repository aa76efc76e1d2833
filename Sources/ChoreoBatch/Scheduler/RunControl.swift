import ChoreoAI
import ChoreoLocking

/// Run-wide switches every job reads: cancelled batches, stopped providers, lapsed leases, the
/// run stopping.
final class RunControl: Sendable {
    private struct State {
        var cancelledBatches: Set<String> = []
        var stops: [StopScope: RequestFailure] = [:]
        var notSent: [StopScope: Int] = [:]
        var sharedRequestLimits: [Int64: Int] = [:]
        var leasesLapsed = false
        var leaseHorizon: ContinuousClock.Instant?
        var stopping = false
    }
    private let state = Locked(State())
    /// Models that refuse a prefill continuation (learned from their 400, or from earlier runs).
    let prefillRefusals = PrefillRefusals()
    /// Jobs that have heard only 429s, and since when.
    let rateLimitedJobs = RateLimitedJobs()

    func isCancelled(batch: String) -> Bool { state.withLock { $0.cancelledBatches.contains(batch) } }

    func setCancelled(_ batches: Set<String>) { state.withLock { $0.cancelledBatches = batches } }

    /// The stop that covers `model` of `provider` (the whole provider's, or that model's), if one does.
    func stop(covering model: String, of provider: String) -> (scope: StopScope, failure: RequestFailure)? {
        state.withLock { s in
            guard !s.stops.isEmpty else { return nil }  // every job asks
            for scope in [StopScope(provider: provider), StopScope(provider: provider, model: model)] {
                if let failure = s.stops[scope] { return (scope, failure) }
            }
            return nil
        }
    }

    /// Stops `scope` for the rest of the run; true the first time (the caller says so once).
    @discardableResult
    func stop(_ scope: StopScope, because failure: RequestFailure) -> Bool {
        state.withLock { s in
            guard s.stops[scope] == nil else { return false }
            s.stops[scope] = failure
            return true
        }
    }

    /// A job of the stopped `scope` was written as not sent (`provider_stopped`).
    func countNotSent(_ scope: StopScope) { state.withLock { $0.notSent[scope, default: 0] += 1 } }

    /// The providers and models stopped in this run: why, and how many of their jobs were not sent.
    var stopped: [StoppedProvider] {
        state.withLock { s in
            s.stops.map { StoppedProvider(provider: $0.key.provider, model: $0.key.model, reason: $0.value.message, jobsNotSent: s.notSent[$0.key] ?? 0) }
                .sorted { ($0.provider, $0.model ?? "") < ($1.provider, $1.model ?? "") }
        }
    }

    /// Whether this runner's lease renewals stopped getting through (`LeaseKeeper`): its streams
    /// were stopped, and it starts nothing until a renewal succeeds.
    var leasesLapsed: Bool { state.withLock { $0.leasesLapsed } }

    func setLeasesLapsed(_ lapsed: Bool) { state.withLock { $0.leasesLapsed = lapsed } }

    /// Until when this runner's leases surely hold, from its last renewal that got through: the
    /// moment its lease keeper fences it off without another (`LeaseKeeper`). Nil for a run
    /// without a keeper. A renewal that began earlier (it hung) never moves it back.
    var leaseHorizon: ContinuousClock.Instant? { state.withLock { $0.leaseHorizon } }

    func setLeaseHorizon(_ horizon: ContinuousClock.Instant) {
        state.withLock { s in s.leaseHorizon = max(s.leaseHorizon ?? horizon, horizon) }
    }

    /// Whether the run is stopping (a signal, the deadline, the database lost): streams that begin
    /// from now on are cancelled as they begin, and no request goes out again.
    var isStopping: Bool { state.withLock { $0.stopping } }

    func setStopping() { state.withLock { $0.stopping = true } }

    /// The most jobs an embeddings job may share a request with (itself included) in this run:
    /// nil, as many as fit (`EmbeddingsBatcher`); halved each time a request it was in is refused
    /// as a whole (`EmbeddingsRequest`), so a bad input ends up alone and fails alone.
    func sharedRequestLimit(job: Int64) -> Int? { state.withLock { $0.sharedRequestLimits[job] } }

    /// `jobs` were refused together in one request: from now on each goes in requests of at most
    /// half as many jobs.
    func halveSharedRequests(of jobs: [Int64]) {
        let limit = max(1, jobs.count / 2)
        state.withLock { s in for job in jobs { s.sharedRequestLimits[job] = min(s.sharedRequestLimits[job] ?? limit, limit) } }
    }
}

/// What a stop covers: a whole provider (a bad key, its account's money gone), or one model of it
/// (a quota per model, a model the key may not use).
struct StopScope: Hashable, Sendable, CustomStringConvertible {
    var provider: String
    var model: String?

    init(provider: String, model: String? = nil) {
        self.provider = provider
        self.model = model
    }

    /// `provider openai`, `model o3 of provider openai`.
    var description: String { model.map { "model \($0) of provider \(provider)" } ?? "provider \(provider)" }
}
