import Testing
@testable import ChoreoBatch
import ChoreoLocking

/// The hand-off of ended streams from the transport's thread to the task that writes their
/// answers, and its gathering window. The windows here are closed by the tests (`Windows`), never
/// by time passing, but in `theWindowClosesByItself`.
@Suite struct StreamEndsTests {
    /// The windows a `StreamEnds` opened, each closed when the test says.
    final class Windows: Sendable {
        private let opened = Locked<[@Sendable () -> Void]>([])
        var count: Int { opened.withLock { $0.count } }
        func schedule(_ delay: Duration, _ close: @escaping @Sendable () -> Void) { opened.withLock { $0.append(close) } }
        func close(_ index: Int) { opened.withLock { $0[index] }() }
    }

    /// Waits (for an event, not for a time) until `ends` is in the state `until` asks for.
    func wait(for ends: StreamEnds<Int>, _ until: ((taker: Bool, gathering: Bool)) -> Bool) async {
        while !until(ends.waiting) { await Task.yield() }
    }

    @Test func aTakerGetsEverythingPostedSoFar() async {
        let ends = StreamEnds<Int>()
        ends.post(1)
        ends.post(2)
        #expect(await ends.take() == [1, 2])
        let taker = Task { await ends.take() }
        await wait(for: ends) { $0.taker }
        ends.post(3)
        #expect(await taker.value == [3])
    }

    /// Streams ending in quick succession: the taker goes as soon as it has its count, without
    /// waiting out its window (an hour here).
    @Test(.timeLimit(.minutes(1))) func aGatheringTakerReturnsOnceItHasAsManyAsItGathers() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        ends.post(1)
        let taker = Task { await ends.take(gathering: 3, within: .seconds(3600)) }
        await wait(for: ends) { $0.gathering }
        ends.post(2)
        #expect(ends.waiting.gathering, "two of three: still gathering")
        ends.post(3)
        #expect(await taker.value == [1, 2, 3])
        #expect(windows.count == 1)
    }

    @Test func aGatheringTakerTakesWhatCameWhenItsWindowCloses() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        ends.post(1)
        let taker = Task { await ends.take(gathering: 5, within: .milliseconds(2)) }
        await wait(for: ends) { $0.gathering }
        ends.post(2)
        windows.close(0)
        #expect(await taker.value == [1, 2])
        #expect(ends.waiting == (false, false))
        ends.post(3)
        #expect(await ends.take() == [3], "what came after the window is the next taker's")
    }

    @Test func aTakerWithEnoughAtOnceDoesNotGather() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        for n in 1...4 { ends.post(n) }
        #expect(await ends.take(gathering: 3, within: .seconds(3600)) == [1, 2, 3, 4])
        #expect(windows.count == 0)
    }

    /// The run stopping cancels the taker: it must not hold the answers it has until its window
    /// closes (an hour here, never closed).
    @Test(.timeLimit(.minutes(1))) func aCancelledGatherReturnsAtOnceWithWhatItHas() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        ends.post(1)
        let taker = Task { await ends.take(gathering: 5, within: .seconds(3600)) }
        await wait(for: ends) { $0.gathering }
        taker.cancel()
        #expect(await taker.value == [1])
        ends.post(2)
        #expect(await ends.take() == [2], "an end posted after the cancelled gather is the next taker's")
    }

    /// Cancelled before it gathers (the run stopped while the answers came in): no window at all.
    @Test(.timeLimit(.minutes(1))) func aTakerCancelledBeforeItGathersDoesNotWait() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        let gate = Locked<CheckedContinuation<Void, Never>?>(nil)
        let taker = Task {
            await withCheckedContinuation { c in gate.withLock { $0 = c } }
            return await ends.take(gathering: 5, within: .seconds(3600))
        }
        while gate.withLock({ $0 == nil }) { await Task.yield() }
        taker.cancel()
        ends.post(1)
        gate.withLock { $0 }!.resume()
        #expect(await taker.value == [1])
        #expect(windows.count == 0)
    }

    /// A gather that ended early (it had its count) leaves its window open: when that window
    /// closes, it must not hand the next taker, still waiting for a first end, an empty list, nor
    /// end the next gather early.
    @Test func aLateWindowLeavesTheNextTakerAlone() async {
        let windows = Windows()
        let ends = StreamEnds<Int>(schedule: windows.schedule)
        ends.post(1)
        let first = Task { await ends.take(gathering: 2, within: .milliseconds(2)) }
        await wait(for: ends) { $0.gathering }
        ends.post(2)
        #expect(await first.value == [1, 2])
        let next = Task { await ends.take(gathering: 2, within: .milliseconds(2)) }
        await wait(for: ends) { $0.taker }
        windows.close(0)
        #expect(ends.waiting == (true, false), "the next taker still waits for its first end")
        ends.post(3)
        await wait(for: ends) { $0.gathering }
        #expect(windows.count == 2)
        windows.close(0)
        #expect(ends.waiting == (true, true), "the first gather's window, closing again, is not this one's")
        windows.close(1)
        #expect(await next.value == [3])
    }

    /// The window as the run times it (`afterOnDispatch`): it closes by itself.
    @Test(.timeLimit(.minutes(1))) func theWindowClosesByItself() async {
        let ends = StreamEnds<Int>()
        ends.post(1)
        #expect(await ends.take(gathering: 2, within: .milliseconds(1)) == [1])
    }
}
