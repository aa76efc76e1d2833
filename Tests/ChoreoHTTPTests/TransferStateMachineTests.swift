import Testing
@testable import ChoreoHTTP

/// `CurlTransfer.StateMachine` alone, with no curl and no server: what each event does in each
/// state, and that an event the transfer cannot receive in its state stops the process with a
/// message naming it (checked in a child process: `#expect(processExitsWith:)`).
@Suite("Transfer state machine")
struct TransferStateMachineTests {
    typealias Machine = CurlTransfer.StateMachine

    /// A sink that keeps what it is given.
    final class Sink: BodySink, @unchecked Sendable {
        var bytes: [UInt8] = []
        var end: Result<Void, any Error>?
        func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
            self.bytes += bytes
            return true
        }
        func finish(_ result: Result<Void, any Error>) { end = result }
    }

    static func head(_ status: Int) -> HTTPResponseHead {
        HTTPResponseHead(status: status, headers: HeaderFields([("content-type", "text/event-stream")]), version: "HTTP/1.1", receivedAt: 0)
    }

    /// A machine whose head (`status`) has arrived; `armed`, when given, was armed before the start.
    static func streaming(_ status: Int = 200, armed: Sink? = nil, highWaterMark: Int = 4) -> Machine {
        var machine = Machine(highWaterMark: highWaterMark)
        if let armed { machine.arm(armed) }
        machine.start()
        machine.statusLineReceived()
        let delivered = machine.headReceived(head(status))
        #expect(delivered.waiter == nil)  // nobody waited for it
        // The body goes to the armed sink exactly when the head is a 2xx (the transfer's reads then skip the machine).
        #expect((delivered.sink as? Sink) === (armed != nil && (200..<300).contains(status) ? armed : nil))
        return machine
    }

    static func receive(_ text: String, _ machine: inout Machine) -> Machine.ReceiveAction {
        Array(text.utf8).withUnsafeBytes { machine.received($0) }
    }

    @Test func aReaderBehindByTheHighWaterMarkPausesCurlUntilTheLoopLiftsThePause() async throws {
        var machine = Self.streaming(highWaterMark: 4)
        guard case .buffered = Self.receive("abcd", &machine) else { Issue.record("not buffered"); return }
        #expect(!machine.waitsForConsumer)
        guard case .pause = Self.receive("ef", &machine) else { Issue.record("not paused at the high-water mark"); return }
        #expect(machine.waitsForConsumer, "a paused transfer waits for its reader: the stall sweep must not end it")
        // The reader takes the buffer and asks the loop to unpause: until the loop has, curl is
        // still paused, and still waiting for the reader, not for the server.
        let read = try await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
            guard case .bytes(let bytes, resumeTransfer: true) = machine.read(c) else {
                Issue.record("the read did not ask to resume the transfer")
                return c.resume(returning: nil)
            }
            c.resume(returning: bytes)
        }
        #expect(read == Array("abcd".utf8))
        #expect(machine.waitsForConsumer, "between the read and the loop's unpause, the transfer is still the reader's")
        // A stray delivery while paused is refused again, keeping the pause the loop is to lift.
        guard case .pause = Self.receive("ef", &machine) else { Issue.record("took bytes while paused"); return }
        let unpause = machine.resume()
        #expect(unpause, "the loop must call curl_easy_pause")
        #expect(!machine.waitsForConsumer)
        guard case .buffered = Self.receive("ef", &machine) else { Issue.record("not flowing after the resume"); return }
    }

    @Test func aWaitingReaderGetsTheNextBytesWithoutABuffer() async throws {
        var machine = Self.streaming()
        let read = try await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
            guard case .wait = machine.read(c) else { Issue.record("an empty body did not wait"); return c.resume(returning: nil) }
            guard case .resume(let reader, let bytes) = Self.receive("abc", &machine) else {
                Issue.record("the bytes did not go to the waiting reader")
                return c.resume(returning: nil)
            }
            reader.resume(returning: bytes)
        }
        #expect(read == Array("abc".utf8))
    }

    @Test func theReaderTakesWhatWasBufferedBeforeTheEnd() async throws {
        var machine = Self.streaming(highWaterMark: 1 << 20)
        _ = Self.receive("abc", &machine)
        guard case .none = machine.finish(.success(())) else { Issue.record("nobody waited, yet the end had an action"); return }
        #expect(machine.isFinished)
        let first = try await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
            guard case .bytes(let bytes, resumeTransfer: false) = machine.read(c) else { return c.resume(returning: nil) }
            c.resume(returning: bytes)
        }
        #expect(first == Array("abc".utf8))
        let second = try await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
            guard case .end(.success) = machine.read(c) else { return c.resume(returning: [0]) }
            c.resume(returning: nil)
        }
        #expect(second == nil)
    }

    @Test(arguments: [200, 204, 429, 500])
    func onlyASuccessfulBodyGoesToTheArmedSink(status: Int) {
        let sink = Sink()
        var machine = Self.streaming(status, armed: sink)
        switch Self.receive("data: x\n\n", &machine) {
        case .deliver(let to): #expect((200..<300).contains(status) && to === sink)
        case .buffered: #expect(!(200..<300).contains(status), "a \(status) body was kept from the sink")
        default: Issue.record("neither delivered nor buffered")
        }
    }

    @Test func attachingFeedsTheBufferToTheSinkAndLiftsThePauseItCaused() {
        var machine = Self.streaming(highWaterMark: 2)
        _ = Self.receive("ab", &machine)
        guard case .pause = Self.receive("c", &machine) else { Issue.record("not paused"); return }
        let sink = Sink()
        guard case .feed(let buffered, unpause: true) = machine.attach(sink) else { Issue.record("no unpause"); return }
        #expect(buffered == Array("ab".utf8))
        guard case .deliver(let to) = Self.receive("c", &machine) else { Issue.record("not delivered to the sink"); return }
        #expect(to === sink)
        guard case .finishSink(let finished, .success) = machine.finish(.success(())) else { Issue.record("the sink was not finished"); return }
        #expect(finished === sink)
    }

    @Test func attachingAfterTheEndFeedsTheBufferThenTheEnd() {
        var machine = Self.streaming(highWaterMark: 1 << 20)
        _ = Self.receive("abc", &machine)
        _ = machine.finish(.failure(TransportError(kind: .connectionLost, message: "reset")))
        guard case .feedAndFinish(let buffered, .failure(let error as TransportError)) = machine.attach(Sink()) else {
            Issue.record("the sink did not get the buffer and the end")
            return
        }
        #expect(buffered == Array("abc".utf8))
        #expect(error.kind == .connectionLost)
    }

    /// The reader's resume is queued behind the loop's other work; the transfer may end first.
    @Test func aResumeQueuedBeforeTheEndDoesNothingAfterIt() async throws {
        var machine = Self.streaming(highWaterMark: 1)
        _ = Self.receive("a", &machine)
        _ = Self.receive("b", &machine)  // pauses
        _ = try await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
            guard case .bytes(let bytes, resumeTransfer: true) = machine.read(c) else { return c.resume(returning: nil) }
            c.resume(returning: bytes)
        }
        _ = machine.finish(.failure(CancellationError()))
        let unpause = machine.resume()
        #expect(!unpause, "an ended transfer has no easy handle to unpause")
    }

    @Test func aFailureBeforeTheHeadFailsWhoeverWaitsForIt() async {
        var machine = Machine()
        machine.start()
        let error = await #expect(throws: TransportError.self) {
            _ = try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
                guard case .wait = machine.waitForHead({ c.resume(with: $0) }) else { Issue.record("no head yet, yet no wait"); return }
                switch machine.finish(.failure(TransportError(kind: .connect, message: "refused"))) {
                case .failHead(let waiter, let error): waiter(.failure(error))
                default: Issue.record("the head's waiter was not failed")
                }
            }
        }
        #expect(error?.kind == .connect)
        // Asked again after the end: the same failure at once.
        let again = await #expect(throws: TransportError.self) {
            _ = try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
                guard case .resume(let result) = machine.waitForHead({ _ in Issue.record("kept a waiter after the end") }) else { return }
                c.resume(with: result)
            }
        }
        #expect(again?.kind == .connect)
    }

    @Test func theHeadGoesToItsWaiterAfterAnInterimBlock() async throws {
        var machine = Machine()
        machine.start()
        let head = try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
            _ = machine.waitForHead { c.resume(with: $0) }
            machine.statusLineReceived()  // HTTP/1.1 100 Continue
            machine.statusLineReceived()  // HTTP/1.1 200 OK
            guard let waiter = machine.headReceived(Self.head(200)).waiter else { Issue.record("the waiter was lost"); return }
            waiter(.success(Self.head(200)))
        }
        #expect(head.status == 200)
    }

    // MARK: illegal transitions: each stops the process, with a message naming the event

    @Test func endingTwiceStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = TransferStateMachineTests.streaming()
            _ = machine.finish(.success(()))
            _ = machine.finish(.failure(CancellationError()))
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("finish: the transfer ended twice") == true)
    }

    @Test func bodyBytesAfterTheEndStopTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = TransferStateMachineTests.streaming()
            _ = machine.finish(.success(()))
            _ = TransferStateMachineTests.receive("late", &machine)
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("received: body bytes for a transfer that is finished") == true)
    }

    @Test func aSecondReaderOfOneBodyStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = TransferStateMachineTests.streaming()
            _ = try? await withCheckedThrowingContinuation { (c: CurlTransfer.BodyWaiter) in
                _ = machine.read(c)  // waits
                _ = machine.read(c)  // a second reader while the first waits
            }
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("read: a second reader of one response body") == true)
    }

    @Test func attachingTwiceStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = TransferStateMachineTests.streaming()
            _ = machine.attach(TransferStateMachineTests.Sink())
            _ = machine.attach(TransferStateMachineTests.Sink())
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("attach: the body already goes to a sink") == true)
    }

    @Test func aResumeNoReaderAskedForStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = TransferStateMachineTests.streaming()
            _ = machine.resume()
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("resume: no reader asked to unpause a transfer that is streaming to a reader (flowing)") == true)
    }

    @Test func startingTwiceStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var machine = CurlTransfer.StateMachine()
            machine.start()
            machine.start()
        }
        #expect(exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) }?.contains("start: the transfer is started, not idle") == true)
    }
}
