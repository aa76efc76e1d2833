import ChoreoLocking

/// Requests that can be stopped together before their response heads arrive: a runner cut off
/// from its database stops every request it has out (`LeaseKeeper`), including those still
/// waiting for a head, which no stream owns yet (a head may never come through a cut link, and
/// the provider may be generating meanwhile). A request joins once it is handed to curl and
/// leaves when its head arrives (its body's owner can cancel it from then). While the group is
/// stopped, a request that joins is cancelled at once.
public final class TransferGroup: Sendable {
    private struct State {
        var members: [ObjectIdentifier: CurlTransfer] = [:]
        var stopped = false
    }
    private let state = Locked(State())

    public init() {}

    /// Cancels every request waiting for its head, and each one that joins until `resume`.
    public func stopAll() {
        let members = state.withLock { s in
            s.stopped = true
            return Array(s.members.values)
        }
        for t in members { t.cancel() }
    }

    /// Requests go out again.
    public func resume() { state.withLock { $0.stopped = false } }

    /// Joins `t`, already handed to curl (so that a cancel always follows its add on the loop's
    /// queue); cancels it when the group is stopped.
    func join(_ t: CurlTransfer) {
        let stopped = state.withLock { s in
            if !s.stopped { s.members[ObjectIdentifier(t)] = t }
            return s.stopped
        }
        if stopped { t.cancel() }
    }

    func leave(_ t: CurlTransfer) { state.withLock { _ = $0.members.removeValue(forKey: ObjectIdentifier(t)) } }
}
