import ChoreoLocking

/// Limits how many tasks hold a permit at once (per-provider concurrency caps). Waiting is
/// cancellable: a cancelled waiter leaves the queue and throws `CancellationError`.
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
    }
    private let state: Locked<State>

    init(permits: Int) { state = Locked(State(available: permits)) }

    /// Tasks waiting for a permit now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    func acquire() async throws {
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Decision { case granted, cancelled, wait }
                let decision = state.withLock { s -> Decision in
                    if s.available > 0 { s.available -= 1; return .granted }
                    // Checked under the lock: either this sees the cancellation or onCancel sees the waiter.
                    if Task.isCancelled { return .cancelled }
                    s.waiters.append((id, c))
                    return .wait
                }
                switch decision {
                case .granted: c.resume()
                case .cancelled: c.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Takes a permit if one is free now, without waiting: never ahead of a waiter (a permit
    /// released while some wait goes to the first of them, not back to `available`).
    func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.available > 0 else { return false }
            s.available -= 1
            return true
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty { s.available += 1; return nil }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
