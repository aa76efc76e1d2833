import ChoreoAI
import ChoreoLocking
import Dispatch

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
/// A taker may gather (`take(gathering:within:)`): once the first end is in, it waits a short
/// window for a few more, so that their answers are written in one transaction. Streams that
/// end one at a time (HTTP/2, real providers) otherwise cost a transaction, a task and a wake of
/// the run loop each. It stops waiting as soon as it has what it gathers: streams that end in
/// quick succession do not wait out the window, their slots idle.
///
/// `take` does not return on cancellation while no end is in: the run loop keeps one taker only
/// while some stream is still running, and every stream ends (when the run stops, it cancels
/// them). A cancelled taker stops gathering at once.
///
/// Generic over what an end is, so that it can be tested alone; the run's ends are
/// `StreamEnds<EndedStream>`.
final class StreamEnds<End: Sendable>: Sendable {
    private struct State {
        var ended: [End] = []
        var taker: CheckedContinuation<[End], Never>?
        /// How many ends the waiting taker waits for: 1, or what a gathering taker still wants.
        var wanted = 1
        /// The gather the waiting taker is in (nil: it waits for a first end, and only an end
        /// resumes it).
        var gathering: Int?
        /// Counts the gathers, so that a gather's window, closing late, leaves a later one alone.
        var gathers = 0

        /// Everything posted so far, for the taker being resumed: no taker waits after this.
        mutating func handOff() -> [End] {
            taker = nil
            wanted = 1
            gathering = nil
            defer { ended.removeAll(keepingCapacity: true) }
            return ended
        }
    }
    private let state = Locked(State())
    /// Runs a closure once a duration has passed: how a gather's window closes.
    typealias Schedule = @Sendable (Duration, @escaping @Sendable () -> Void) -> Void
    private let schedule: Schedule

    /// `schedule`: how a gather's window is timed (tests close windows themselves).
    init(schedule: @escaping Schedule = StreamEnds.afterOnDispatch) {
        self.schedule = schedule
    }

    /// `body` on a global queue after `delay`.
    static func afterOnDispatch(_ delay: Duration, _ body: @escaping @Sendable () -> Void) {
        let (seconds, attoseconds) = delay.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: body)
    }

    /// Whether a taker waits, and whether it is gathering (tests).
    var waiting: (taker: Bool, gathering: Bool) { state.withLock { ($0.taker != nil, $0.gathering != nil) } }

    func post(_ e: End) {
        let handoff = state.withLock { s -> (CheckedContinuation<[End], Never>, [End])? in
            s.ended.append(e)
            guard s.ended.count >= s.wanted, let taker = s.taker else { return nil }
            return (taker, s.handOff())
        }
        if let (taker, all) = handoff { taker.resume(returning: all) }
    }

    /// Everything posted so far, once there is at least one end.
    func take() async -> [End] {
        await withCheckedContinuation { (c: CheckedContinuation<[End], Never>) in
            let ready = state.withLock { s -> [End]? in
                if s.ended.isEmpty {
                    s.taker = c
                    return nil
                }
                return s.handOff()
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// As `take()`, and then, while fewer than `count` ends came, waits for the rest until
    /// `window` has passed or the calling task is cancelled, and takes what came meanwhile.
    func take(gathering count: Int, within window: Duration) async -> [End] {
        let first = await take()
        guard first.count < count else { return first }
        let more = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<[End], Never>) in
                let (ready, gather) = state.withLock { s -> ([End]?, Int) in
                    if s.ended.count >= count - first.count || Task.isCancelled { return (s.handOff(), 0) }
                    s.gathers += 1
                    s.taker = c
                    s.wanted = count - first.count
                    s.gathering = s.gathers
                    return (nil, s.gathers)
                }
                if let ready { return c.resume(returning: ready) }
                schedule(window) { self.closeGather(gather) }
            }
        } onCancel: {
            closeGather(nil)
        }
        return first + more
    }

    /// Hands a gathering taker what came meanwhile: the taker of `gather`, or (nil) whichever
    /// gathers now. A taker waiting for a first end is left waiting.
    private func closeGather(_ gather: Int?) {
        let handoff = state.withLock { s -> (CheckedContinuation<[End], Never>, [End])? in
            guard let gathering = s.gathering, gather == nil || gather == gathering, let taker = s.taker else { return nil }
            return (taker, s.handOff())
        }
        if let (taker, all) = handoff { taker.resume(returning: all) }
    }
}
