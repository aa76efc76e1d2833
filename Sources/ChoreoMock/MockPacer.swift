import NIOCore

/// The chunk delays of every stream on one event loop, kept on one timer.
///
/// The server has one delay (`MockConfig.chunkDelay`), so streams fall due in the order they
/// began to wait: a queue, whose head alone has a timer. A timer a stream each (NIO's heap of
/// scheduled tasks, whose entries it copies as it reorders them) took a third of the mock's CPU
/// at 5,000 slow streams, more than the clients it served.
///
/// Used only on its event loop (`MockServerState.pacer(for:)` hands each loop its own).
final class MockPacer: @unchecked Sendable {
    private let loop: any EventLoop
    private var waiting = CircularBuffer<(due: NIODeadline, wake: () -> Void)>()
    /// A timer is set for the queue's head (or the queue is being woken, and sets the next).
    private var armed = false

    init(loop: any EventLoop) { self.loop = loop }

    /// Calls `wake` on the loop once `delay` has passed. Delays must be the same for every call
    /// (they are the server's): a shorter one would wait behind the longer ones queued before it.
    func after(_ delay: TimeAmount, _ wake: @escaping () -> Void) {
        loop.preconditionInEventLoop()
        waiting.append((loop.now + delay, wake))
        if !armed { arm() }
    }

    private func arm() {
        guard let first = waiting.first else { armed = false; return }
        armed = true
        loop.scheduleTask(deadline: first.due) { [self] in fire() }
    }

    /// Wakes every stream now due, in order. A stream woken may wait again: it goes to the back.
    private func fire() {
        let now = loop.now
        while let first = waiting.first, first.due <= now {
            waiting.removeFirst().wake()
        }
        arm()
    }
}
