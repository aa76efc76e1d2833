extension CurlTransfer {
    /// Who gets the head, or the failure that came first: a task waiting for it (`awaitHead`), or
    /// a caller that took no task along (`CurlTransport.send`). Called once, on the thread that
    /// delivers the head: the loop's, or the consumer's when it came first.
    typealias HeadWaiter = @Sendable (Result<HTTPResponseHead, any Error>) -> Void
    typealias BodyWaiter = CheckedContinuation<[UInt8]?, any Error>

    /// A transfer's life as one value, as AHC's `Transaction+StateMachine.swift`: each event is a
    /// `mutating` method that moves the state on and returns what the transfer must do, which the
    /// transfer does after releasing its lock (resume a continuation, feed or finish the sink,
    /// pause or unpause curl). No I/O here: every transition can be tested alone.
    ///
    /// ```
    /// idle ─start─▶ started ─status line─▶ receivingHead ─head─▶ streaming ─finish─▶ finished
    ///  │               │                        │                 (body: sink, or buffered:
    ///  └───────────────┴────────── finish (failed, cancelled) ──  flowing ⇄ paused → resuming)
    /// ```
    ///
    /// Who drives what: the loop thread sends `start`, the head, the body, `resume`, `attach` and
    /// `finish`; the consumer (any thread) sends `waitForHead` and `read`. The transfer holds the
    /// machine under one lock.
    ///
    /// What the server sends never stops the process: header lines after the head (trailers) are
    /// ignored. An event that cannot happen in the current state is a bug in this module (a
    /// command out of order, a second reader, an end after the end) and stops the process with
    /// a message naming the event and the state, instead of being dropped.
    struct StateMachine {
        private enum State {
            /// Made; the loop has not configured it yet.
            case idle(Pending)
            /// Its easy handle is in curl's multi; no status line yet (connecting, sending).
            case started(Pending)
            /// A status line arrived, so the connection is up; the head is not complete (after an
            /// interim 1xx block, the final one follows).
            case receivingHead(Pending)
            /// The head went to its consumer; the body flows (`Body`).
            case streaming(HTTPResponseHead, Body)
            /// Ended: complete, failed or cancelled, as `result` says; `head` is nil when it ended
            /// before one. A reader takes what is left in `buffer` before the end.
            case finished(head: HTTPResponseHead?, result: Result<Void, any Error>)
        }

        /// What a transfer waits with for its head.
        private struct Pending {
            var headWaiter: HeadWaiter?
            /// Where a 2xx body goes from its first byte (`CurlTransport.execute(_:sendingSuccessTo:)`).
            var armed: (any BodySink)?
        }

        private enum Body {
            /// Pushed to the sink on the loop thread; nobody reads it.
            case sink(any BodySink)
            /// Buffered (`buffer`) for a reader, who waits (`reader`) while the buffer is empty.
            case buffered(reader: BodyWaiter?, Flow)
        }

        /// The backpressure of a buffered body.
        enum Flow: Equatable {
            /// curl delivers.
            case flowing
            /// The buffer reached `highWaterMark`; the write callback paused curl.
            case paused
            /// The reader took the buffer and asked the loop to unpause; curl stays paused until the
            /// loop runs `resume`. The transfer waits for its consumer, not for the server, so the
            /// stall sweep must not count this time (issue 14: a sweep in this gap ended it).
            case resuming
        }

        private var state: State
        /// Body bytes a reader has yet to take: while `streaming` to a reader, and after it ends.
        /// Kept beside `state`, not in a case, so appending never copies it (a case's payload is a
        /// copy while the state is switched on).
        private var buffer: [UInt8] = []

        /// Above this many buffered bytes, a body read by a reader pauses curl.
        private let highWaterMark: Int

        /// A transfer not yet on the loop.
        init(highWaterMark: Int = CurlTransfer.highWaterMark) {
            state = .idle(Pending(headWaiter: nil, armed: nil))
            self.highWaterMark = highWaterMark
        }

        // MARK: queries (any thread)

        var isFinished: Bool {
            if case .finished = state { return true }
            return false
        }

        /// Whether the transfer waits for its reader to take the buffer (curl paused, or about to be
        /// unpaused): time spent so is not a stall of the server.
        var waitsForConsumer: Bool {
            if case .streaming(_, .buffered(_, let flow)) = state { return flow != .flowing }
            return false
        }

        // MARK: consumer (any thread)

        enum HeadAction {
            /// The head is not here yet: the waiter is kept and resumed by `headReceived` or `finish`.
            case wait
            /// Resume the waiter now with this.
            case resume(Result<HTTPResponseHead, any Error>)
        }

        /// The consumer waits for the head (once per transfer: `CurlTransport.execute`).
        mutating func waitForHead(_ waiter: @escaping HeadWaiter) -> HeadAction {
            switch state {
            case .idle(var p), .started(var p), .receivingHead(var p):
                precondition(p.headWaiter == nil, "waitForHead: a second consumer waits for the head of one transfer")
                p.headWaiter = waiter
                state = Self.state(state, with: p)
                return .wait
            case .streaming(let head, _), .finished(let head?, _):
                return .resume(.success(head))
            case .finished(nil, .failure(let error)):
                return .resume(.failure(error))
            case .finished(nil, .success):
                preconditionFailure("waitForHead: the transfer finished successfully without a head")
            }
        }

        enum ReadAction {
            /// Nothing buffered: the waiter is kept and resumed by `received` or `finish`.
            case wait
            /// Resume the reader with these bytes; `resumeTransfer`: ask the loop to unpause curl
            /// (`resume`), which this read took the pause's cause from.
            case bytes([UInt8], resumeTransfer: Bool)
            /// The body ended (success: the reader gets nil).
            case end(Result<Void, any Error>)
        }

        /// The reader wants the next bytes. One reader at a time: a body has a single consumer.
        mutating func read(_ waiter: BodyWaiter) -> ReadAction {
            switch state {
            case .streaming(let head, .buffered(let reader, let flow)):
                precondition(reader == nil, "read: a second reader of one response body (iterate a body once, from one task)")
                if buffer.isEmpty {
                    state = .streaming(head, .buffered(reader: waiter, flow))
                    return .wait
                }
                let resumeTransfer = flow == .paused
                if resumeTransfer { state = .streaming(head, .buffered(reader: nil, .resuming)) }
                return .bytes(takeBuffer(), resumeTransfer: resumeTransfer)
            case .finished(_, let result):
                return buffer.isEmpty ? .end(result) : .bytes(takeBuffer(), resumeTransfer: false)
            case .streaming(_, .sink):
                preconditionFailure("read: the body was attached to a sink; nothing is left to read")
            case .idle, .started, .receivingHead:
                preconditionFailure("read: the body is read before its head arrived (\(stateName))")
            }
        }

        /// Before the transfer goes to the loop: a 2xx body goes to `sink` from its first byte.
        mutating func arm(_ sink: any BodySink) {
            guard case .idle(var p) = state, p.armed == nil else { preconditionFailure("arm: the transfer is \(stateName), or armed already") }
            p.armed = sink
            state = .idle(p)
        }

        // MARK: loop thread

        /// The loop configured the easy handle and adds it to curl.
        mutating func start() {
            guard case .idle(let p) = state else { preconditionFailure("start: the transfer is \(stateName), not idle") }
            state = .started(p)
        }

        /// A status line (`HTTP/1.1 200 OK`) began a header block.
        mutating func statusLineReceived() {
            switch state {
            case .started(let p), .receivingHead(let p):
                state = .receivingHead(p)
            case .streaming, .finished:
                break  // a line shaped like one in a trailer block: the head is taken already
            case .idle:
                preconditionFailure("statusLineReceived: curl called back for a transfer it was not given")
            }
        }

        /// The head is complete: the waiter to resume with it (nil when none waits yet, or when this
        /// was a trailer block after the head). A 2xx body goes to the armed sink from here: `sink`
        /// says so.
        mutating func headReceived(_ head: HTTPResponseHead) -> (waiter: HeadWaiter?, sink: (any BodySink)?) {
            switch state {
            case .started(let p), .receivingHead(let p):
                if let sink = p.armed, (200..<300).contains(head.status) {
                    state = .streaming(head, .sink(sink))
                    return (p.headWaiter, sink)
                }
                state = .streaming(head, .buffered(reader: nil, .flowing))
                return (p.headWaiter, nil)
            case .streaming, .finished:
                return (nil, nil)  // the end of a trailer block
            case .idle:
                preconditionFailure("headReceived: curl called back for a transfer it was not given")
            }
        }

        enum ReceiveAction {
            /// Hand the bytes to the sink (it may refuse them; then the transfer aborts).
            case deliver(any BodySink)
            /// Resume the waiting reader with these bytes (a copy of them).
            case resume(BodyWaiter, [UInt8])
            /// Taken into the buffer.
            case buffered
            /// Not taken: pause curl, which delivers them again once unpaused.
            case pause
        }

        /// curl's write callback brought body bytes (after the head: the transfer completes the
        /// head first if curl did not end it).
        mutating func received(_ bytes: UnsafeRawBufferPointer) -> ReceiveAction {
            switch state {
            case .streaming(_, .sink(let sink)):
                return .deliver(sink)
            case .streaming(let head, .buffered(let reader, let flow)):
                if let reader {
                    state = .streaming(head, .buffered(reader: nil, flow))
                    return .resume(reader, Array(bytes))
                }
                // Paused already (or about to be unpaused): curl should not deliver now; if it does,
                // refuse again rather than lose the pause the reader is to lift.
                if flow != .flowing { return .pause }
                if buffer.count >= highWaterMark {
                    state = .streaming(head, .buffered(reader: nil, .paused))
                    return .pause
                }
                buffer.append(contentsOf: bytes)
                return .buffered
            case .idle, .started, .receivingHead, .finished:
                preconditionFailure("received: body bytes for a transfer that is \(stateName)")
            }
        }

        /// The reader asked the loop to unpause curl (`ReadAction.bytes(resumeTransfer: true)`):
        /// whether to call `curl_easy_pause` now (not when the transfer ended meanwhile).
        mutating func resume() -> Bool {
            switch state {
            case .streaming(let head, .buffered(let reader, .resuming)):
                state = .streaming(head, .buffered(reader: reader, .flowing))
                return true
            case .finished:
                return false
            case .idle, .started, .receivingHead, .streaming:
                preconditionFailure("resume: no reader asked to unpause a transfer that is \(stateName)")
            }
        }

        enum AttachAction {
            /// Feed the sink these buffered bytes first; `unpause`: they had paused curl.
            case feed([UInt8], unpause: Bool)
            /// The transfer had ended: feed the sink what was buffered, then finish it with `result`.
            case feedAndFinish([UInt8], Result<Void, any Error>)
        }

        /// From now on the body goes to `sink` (the consumer's `attach`, run on the loop).
        mutating func attach(_ sink: any BodySink) -> AttachAction {
            switch state {
            case .streaming(let head, .buffered(let reader, let flow)):
                precondition(reader == nil, "attach: a reader is waiting for this body; a body has one consumer")
                // A read that took a paused buffer queued its `resume` before this attach.
                precondition(flow != .resuming, "attach: ran before the resume a read queued")
                state = .streaming(head, .sink(sink))
                return .feed(takeBuffer(), unpause: flow == .paused)
            case .finished(_, let result):
                return .feedAndFinish(takeBuffer(), result)
            case .streaming(_, .sink):
                preconditionFailure("attach: the body already goes to a sink; a body has one consumer")
            case .idle, .started, .receivingHead:
                preconditionFailure("attach: the body is attached before its head arrived (\(stateName))")
            }
        }

        enum FinishAction {
            case none
            /// The head never came: fail its waiter.
            case failHead(HeadWaiter, any Error)
            /// End the body's sink.
            case finishSink(any BodySink, Result<Void, any Error>)
            /// End the waiting reader (nil on success).
            case endReader(BodyWaiter, Result<Void, any Error>)
        }

        /// The transfer ended: curl's result, a cancel, a stall or an error of this side. Once: the
        /// loop finishes only transfers it holds, and stops holding them as it does.
        mutating func finish(_ result: Result<Void, any Error>) -> FinishAction {
            switch state {
            case .idle(let p), .started(let p), .receivingHead(let p):
                guard case .failure(let error) = result else {
                    preconditionFailure("finish: a successful end without a head (\(stateName)); the head is delivered first")
                }
                state = .finished(head: nil, result: result)
                return p.headWaiter.map { .failHead($0, error) } ?? .none
            case .streaming(let head, .sink(let sink)):
                state = .finished(head: head, result: result)
                return .finishSink(sink, result)
            case .streaming(let head, .buffered(let reader, _)):
                // A waiting reader means an empty buffer; otherwise the buffer stays for the reader.
                state = .finished(head: head, result: result)
                return reader.map { .endReader($0, result) } ?? .none
            case .finished:
                preconditionFailure("finish: the transfer ended twice")
            }
        }

        // MARK: helpers

        private mutating func takeBuffer() -> [UInt8] {
            var out: [UInt8] = []
            swap(&out, &buffer)
            return out
        }

        /// The case's name, for the messages of illegal transitions.
        private var stateName: String {
            switch state {
            case .idle: "idle"
            case .started: "started"
            case .receivingHead: "receiving its head"
            case .streaming(_, .sink): "streaming to a sink"
            case .streaming(_, .buffered(_, let flow)): "streaming to a reader (\(flow))"
            case .finished: "finished"
            }
        }

        /// `state`, a state before the head, with `pending` in it.
        private static func state(_ state: State, with pending: Pending) -> State {
            switch state {
            case .idle: .idle(pending)
            case .started: .started(pending)
            case .receivingHead: .receivingHead(pending)
            case .streaming, .finished: preconditionFailure("only a state before the head holds a head waiter")
            }
        }
    }
}
