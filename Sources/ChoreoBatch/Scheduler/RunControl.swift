import ChoreoAI
import Synchronization

/// Run-wide switches every job task reads: cancelled batches, stopped providers, the stop request.
/// Read on the per-chunk path, so reads are a lock and a set lookup, nothing more.
final class RunControl: Sendable {
    private struct State {
        var cancelledBatches: Set<String> = []
        var stoppedProviders: [String: Failure] = [:]
    }
    private let state = Mutex(State())
    /// Whether any batch is cancelled: the per-chunk check is one relaxed load in the usual case.
    private let anyCancelled = Atomic<Bool>(false)

    func isCancelled(batch: String) -> Bool {
        guard anyCancelled.load(ordering: .relaxed) else { return false }
        return state.withLock { $0.cancelledBatches.contains(batch) }
    }

    func setCancelled(_ batches: Set<String>) {
        state.withLock { $0.cancelledBatches = batches }
        anyCancelled.store(!batches.isEmpty, ordering: .relaxed)
    }

    /// The failure that stopped `provider` (quota exhausted, bad key), if one did.
    func stopReason(provider: String) -> Failure? { state.withLock { $0.stoppedProviders[provider] } }

    func stop(provider: String, because failure: Failure) {
        state.withLock { s in if s.stoppedProviders[provider] == nil { s.stoppedProviders[provider] = failure } }
    }
}
