import ChoreoAI
import Synchronization

/// Run-wide switches every job reads: cancelled batches, stopped providers.
final class RunControl: Sendable {
    private struct State {
        var cancelledBatches: Set<String> = []
        var stoppedProviders: [String: RequestFailure] = [:]
    }
    private let state = Mutex(State())
    /// Models that refuse a prefill continuation (learned from their 400, or from earlier runs).
    let prefillRefusals = PrefillRefusals()

    func isCancelled(batch: String) -> Bool { state.withLock { $0.cancelledBatches.contains(batch) } }

    func setCancelled(_ batches: Set<String>) { state.withLock { $0.cancelledBatches = batches } }

    /// The failure that stopped `provider` (quota exhausted, bad key), if one did.
    func stopReason(provider: String) -> RequestFailure? { state.withLock { $0.stoppedProviders[provider] } }

    func stop(provider: String, because failure: RequestFailure) {
        state.withLock { s in if s.stoppedProviders[provider] == nil { s.stoppedProviders[provider] = failure } }
    }
}
