import ChoreoAI
import ChoreoLocking

/// An attempt whose request went out with no task of its own, and how it ended: its stream's
/// end, or the failure that came before a head (`output` nil).
struct EndedStream: Sendable {
    let execution: JobExecution
    let sent: JobExecution.Sent
    /// The stream's text, from its head on (nil: no head came).
    let output: LiveOutput?
    let end: Result<Void, any Error>
    /// When the stream ended (the run may get to it later: the attempt's end is this moment).
    let at: Double

    /// When the response's head came (nil: it did not).
    var headersAt: Double? { output.map { $0.stream.head?.receivedAt ?? sent.started } }
}

/// The streams that ended, from the transport's thread to the run loop: `post` from any
/// thread, `take` from one task at a time, which gets everything posted so far.
///
/// `take` does not return on cancellation: the run loop keeps one taker only while some stream
/// is still running, and every stream ends (when the run stops, it cancels them).
final class StreamEnds: Sendable {
    private struct State {
        var ended: [EndedStream] = []
        var taker: CheckedContinuation<[EndedStream], Never>?
    }
    private let state = Locked(State())

    func post(_ e: EndedStream) {
        let handoff = state.withLock { s -> (CheckedContinuation<[EndedStream], Never>, [EndedStream])? in
            s.ended.append(e)
            guard let taker = s.taker else { return nil }
            s.taker = nil
            defer { s.ended.removeAll(keepingCapacity: true) }
            return (taker, s.ended)
        }
        if let (taker, all) = handoff { taker.resume(returning: all) }
    }

    func take() async -> [EndedStream] {
        await withCheckedContinuation { (c: CheckedContinuation<[EndedStream], Never>) in
            let ready = state.withLock { s -> [EndedStream]? in
                if s.ended.isEmpty {
                    s.taker = c
                    return nil
                }
                defer { s.ended.removeAll(keepingCapacity: true) }
                return s.ended
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}
