import ChoreoHTTP
public import Foundation
import ChoreoLocking
import Synchronization

/// The chunks of one streamed chat completion, as they arrive. Iterate it once: a second
/// `makeAsyncIterator()` stops the process.
///
/// - Breaking out of the loop (or dropping the stream) cancels the request and frees its connection:
///   the stream and its iterator own the request, until it ends or `onEnd` takes it over.
/// - A stream that ends before the provider's terminal event throws `StreamError.interrupted`
///   carrying everything received (`error.partial`); so do malformed events and in-band errors.
/// - `completion` is the accumulated answer so far, at any moment.
public struct ChatCompletionStream: AsyncSequence, Sendable {
    public typealias Element = ChatCompletionChunk
    private let state: StreamState
    /// Owns the request (nil for a whole completion): when the last copy of the stream and of its
    /// iterator goes before the end, `HTTPBody` cancels it. `state` must not hold it: the transfer
    /// holds `state` as its sink, so it would own itself and never be cancelled.
    private let body: HTTPBody?
    /// The response's status line and headers (rate-limit headers, request id).
    public let head: HTTPResponseHead?

    init(response: HTTPResponse, wire: any WireFormat, provider: Provider) {
        self.head = response.head
        self.body = response.body
        self.state = StreamState(source: .http(response.body.handle), wire: wire, provider: provider)
    }

    /// A stream whose state was armed as the transfer's body sink before the request went out.
    init(response: HTTPResponse, collecting state: StreamState) {
        self.head = response.head
        self.body = response.body
        self.state = state
    }

    /// A stream over a finished completion (for `stream: false`).
    init(completion: ChatCompletion) {
        self.head = nil
        self.body = nil
        self.state = StreamState(source: .whole(completion), wire: OpenAIWire())
    }

    public func makeAsyncIterator() -> Iterator {
        preconditionFirstIterator(state.iteratorMade, of: "ChatCompletionStream")
        return Iterator(state: state, body: body)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let state: StreamState
        /// Owns the request while a `for try await` holds only the iterator (see `ChatCompletionStream.body`).
        let body: HTTPBody?
        public mutating func next() async throws -> ChatCompletionChunk? { try await state.next() }
    }

    /// Everything received so far, as a completion.
    public var completion: ChatCompletion {
        state.received.withLock {
            $0.chunks.settleText()
            return $0.chunks.completion
        }
    }

    /// The text received so far (first choice).
    public var text: String {
        state.received.withLock {
            $0.chunks.settleText()
            return $0.chunks.text
        }
    }

    /// Bytes received so far.
    public var bytesReceived: Int { state.bytesReceived }

    /// Reads the rest of the stream and returns the whole completion.
    ///
    /// Cheaper than iterating: the body is parsed and accumulated on the transport's thread as it
    /// arrives, and the calling task wakes once, at the end. `text`, `completion` and
    /// `outputChunkCount` show the progress meanwhile. Errors are the iteration's.
    public func collect() async throws -> ChatCompletion {
        try await state.collect()
        extendLifetime(body)  // the request is this stream's until it ends
        return completion
    }

    /// The number of chunks so far that carried text, a refusal or a piece of a tool call
    /// (a stand-in for completion tokens until the provider reports usage).
    public var outputChunkCount: Int { state.received.withLock { $0.chunks.outputChunkCount } }

    /// The text so far and the counts that go with it, read together: a chunk arriving between
    /// two reads would pair a text with the wrong count.
    public var textSoFar: TextSoFar {
        state.received.withLock { r in
            r.chunks.settleText()
            return TextSoFar(text: r.chunks.text, settledChunks: r.chunks.outputChunkCount - r.chunks.trailingBlankChunks,
                      everyChoice: r.chunks.textsOfEveryChoice, chunks: r.chunks.chunkCount)
        }
    }

    /// What `textSoFar` reads in one look at the stream.
    public struct TextSoFar: Sendable {
        /// The first choice's text.
        public var text: String
        /// The output chunks that produced `text`, not counting the trailing ones that were only
        /// whitespace (a continuation writes those again: see `Continuation`).
        public var settledChunks: Int
        /// Every choice's text when the answer has several (`n > 1`); nil for one.
        public var everyChoice: [String]?
        /// All the chunks received (`chunkCount`).
        public var chunks: Int
    }

    /// The usage received so far, and whether it is the answer's final count
    /// (`ChunkAccumulator.usageIsFinal`), read together.
    public var usageSoFar: (usage: CompletionUsage?, isFinal: Bool) { state.received.withLock { ($0.chunks.usage, $0.chunks.usageIsFinal) } }

    /// All chunks received so far.
    public var chunkCount: Int { state.received.withLock { $0.chunks.chunkCount } }

    /// When the first chunk that carried output arrived (to within one network read).
    public var firstOutputAt: Date? { state.received.withLock { $0.timings.firstOutputAt.map(Date.init(timeIntervalSince1970:)) } }

    /// When output arrived: first, latest, and the gaps between (see `StreamTimings`).
    public var timings: StreamTimings { state.received.withLock { $0.timings } }

    /// Stops the request: iteration, or `collect()`, ends with `CancellationError`.
    public func cancel() { state.cancel() }

    /// Calls `body` once when the stream has ended, with what `collect()` would return or throw,
    /// without a task waiting for it: parsing runs on the transport's thread, and so does `body`
    /// (keep it short; hand the work to a task). The batch runner holds thousands of streams
    /// this way with no task per stream. From then on the request runs to its end even if the
    /// stream is dropped (`body` is waiting for it); `cancel()` still stops it.
    public func onEnd(_ body: @escaping @Sendable (Result<Void, any Error>) -> Void) { state.onEnd(body, keeping: self.body) }
}

/// The consuming side of one stream: body bytes → SSE events → chunks, with the accumulator.
///
/// Single consumer: either the iterating task calls `next` (pull), or after `collect` the
/// transport's loop thread feeds it as a `BodySink` (push) and the collecting task waits for
/// `finish`. `received` may be read from anywhere.
///
/// Its life is two small state machines, each moving one way only:
///
/// ```
/// delivery:  pull ──collect / onEnd──▶ push        (or push from the start: armed as the sink)
/// progress:  open ──end of body, cut, bad event──▶ ended(error?) ──error handed out──▶ ended(nil)
/// ```
///
/// `delivery` changes only on the consumer's side, before the transport is attached, so the
/// loop thread only ever sees `push`; `progress` belongs to whichever side decodes (the
/// consumer pulling, the loop thread pushing), never both at once.
///
/// It holds its transfer by a `TransferHandle`, never by the `HTTPBody`: the transfer holds it as
/// its sink. The stream's handles own the transfer (`ChatCompletionStream.body`).
final class StreamState: BodySink, @unchecked Sendable {
    enum Source {
        case http(TransferHandle)
        indirect case whole(ChatCompletion)  // boxed: rare, and not worth its size in every stream
    }

    private let source: Source
    /// Reads a whole JSON body (`StreamBody.whole`), and makes the decoder.
    private let wire: any WireFormat
    /// Whether the stream gave out its iterator (`preconditionFirstIterator`).
    let iteratorMade = Atomic<Bool>(false)
    private var decoding: Decoding
    /// Redacted from every error message: the text of those comes from the server.
    private let key: String?
    /// Pull mode: the chunks decoded from the last read, handed out by `next` one by one.
    private var pending: [ChatCompletionChunk] = []
    private var pendingIndex = 0

    private enum Delivery {
        /// A task iterates: each read's chunks wait in `pending`.
        case pull
        /// Chunks go straight into the accumulator; `ending` meets the end of the body (loop
        /// thread) with the task waiting for it in `collect`, whichever comes first.
        case push
    }
    private var delivery: Delivery

    private enum Progress {
        /// Reads may still come.
        case open
        /// No more reads: the body ended, broke off, or brought an event that cannot be read.
        /// `error` (a `StreamError`; an existential, so the rare error does not widen every
        /// stream) goes out once, after the chunks decoded before it.
        case ended(error: (any Error)?)
    }
    private var progress = Progress.open

    /// Ends the stream, with `error` to hand out after the chunks decoded before it.
    private func end(with error: (any Error)? = nil) { progress = .ended(error: error) }

    /// The error the stream ended with, if it has not been handed out yet; from now on the end is plain.
    private func takeEndError() -> (any Error)? {
        guard case .ended(let error?) = progress else { return nil }
        progress = .ended(error: nil)
        return error
    }

    private var hasEnded: Bool {
        if case .ended = progress { return true }
        return false
    }
    private struct Ending {
        var waiter: CheckedContinuation<Void, any Error>?
        var callback: (@Sendable (Result<Void, any Error>) -> Void)?
        /// The request `callback` waits for, kept going until the end (`onEnd`).
        var keptBody: HTTPBody?
        var result: Result<Void, any Error>?
    }
    private let ending = Locked(Ending())
    let received = Locked(Received())

    /// What the reads brought, under one lock (taken once per read): the chunks folded together,
    /// and when output arrived.
    struct Received {
        var chunks = ChunkAccumulator()
        var timings = StreamTimings()
        /// Output chunks already timed (`timeOutput`).
        private var timedOutputChunks = 0

        /// Times a read that brought output (once per read): one clock read and a histogram
        /// update, nothing per chunk.
        mutating func timeOutput() {
            guard chunks.outputChunkCount > timedOutputChunks else { return }
            timedOutputChunks = chunks.outputChunkCount
            timings.output(at: Date().timeIntervalSince1970)
        }
    }

    /// `collecting`: the transport feeds this state from the first byte (it was armed as the
    /// transfer's sink); `next` then only waits for the end. `provider` gives the event size cap
    /// and the key to redact (none for a whole completion).
    init(source: Source, wire: any WireFormat, collecting: Bool = false, provider: Provider? = nil) {
        self.delivery = collecting ? .push : .pull
        self.source = source
        self.wire = wire
        self.decoding = Decoding(parser: SSEParser(maxEventSize: provider?.maxEventBytes ?? SSEParser.defaultMaxEventSize), decoder: wire.makeDecoder())
        self.key = provider?.apiKey
    }

    var bytesReceived: Int {
        if case .http(let b) = source { return b.bytesReceived }
        return 0
    }

    /// The async part is kept small on purpose: everything between two reads happens in the
    /// synchronous `ingest` and `endOfBody`, so the task's async frame stays a few hundred bytes
    /// (measured with heaptrack: 4.9 KB per stream when parsing lived in this function).
    func next() async throws -> ChatCompletionChunk? {
        if delivery == .push {
            try await collect()
            return nil
        }
        while true {
            if let chunk = takePending() { return chunk }
            if let error = takeEndError() { throw error }
            if hasEnded { return nil }
            let transfer: TransferHandle
            switch source {
            case .whole(let completion): return whole(completion)
            case .http(let t): transfer = t
            }
            let bytes: [UInt8]?
            do {
                bytes = try await transfer.next()
            } catch let e as TransportError {
                try brokeOff(e)
                return nil
            }
            if let bytes { bytes.withUnsafeBytes { ingest($0) } } else { try endOfBody() }
        }
    }

    /// Push mode: lets the transport feed the rest of the body in (unless it was armed to from
    /// the start), and waits for its end.
    func collect() async throws {
        let http: TransferHandle?
        if case .http(let transfer) = source { http = transfer } else { http = nil }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                if let ended = beginPush({ $0.waiter = c }) { c.resume(with: ended) }
            }
        } onCancel: {
            http?.cancel()
        }
    }

    /// Push mode without a waiting task: `body` runs once with the stream's end, on the loop
    /// thread (or at once if it already ended). `request` is kept until then, so the stream runs
    /// to its end with nobody holding it.
    func onEnd(_ body: @escaping @Sendable (Result<Void, any Error>) -> Void, keeping request: HTTPBody?) {
        if let ended = beginPush({ $0.callback = body; $0.keptBody = request }) { body(ended) }
    }

    /// What `collect` and `onEnd` share: switch to push mode (attaching to the transport unless
    /// the stream was armed from its first byte) and `register` for the end — or, when the stream
    /// has already ended (a whole completion, or one iterated to its end), return that end.
    private func beginPush(_ register: (inout Ending) -> Void) -> Result<Void, any Error>? {
        guard case .http(let http) = source else {
            if !hasEnded, case .whole(let completion) = source { _ = whole(completion) }
            return .success(())
        }
        let attach = delivery == .pull
        if attach {
            if hasEnded { return takeEndError().map { .failure($0) } ?? .success(()) }
            delivery = .push
            pending.removeAll()  // already in the accumulator
            pendingIndex = 0
        }
        let ended = ending.withLock { e -> Result<Void, any Error>? in
            if let r = e.result { return r }
            register(&e)
            return nil
        }
        if ended == nil && attach { http.attach(self) }
        return ended
    }

    func cancel() {
        if case .http(let body) = source { body.cancel() }
    }

    // BodySink (loop thread, push mode)

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ingest(bytes)
        return !hasEnded
    }

    func finish(_ result: Result<Void, any Error>) {
        let outcome: Result<Void, any Error>
        if let e = takeEndError() {
            outcome = .failure(e)
        } else {
            switch result {
            case .success:
                do { try endOfBody(); outcome = .success(()) } catch { outcome = .failure(error) }
            case .failure(let e as TransportError):
                do { try brokeOff(e); outcome = .success(()) } catch { outcome = .failure(error) }
            case .failure(let e):
                end()
                outcome = .failure(e)
            }
        }
        let (waiter, callback, keptBody) = ending.withLock { e in
            e.result = outcome
            defer { e.waiter = nil; e.callback = nil; e.keptBody = nil }
            return (e.waiter, e.callback, e.keptBody)
        }
        waiter?.resume(with: outcome)
        callback?(outcome)
        extendLifetime(keptBody)  // released here, after the end is out (the transfer has ended)
    }

    /// The next decoded chunk not yet handed out.
    private func takePending() -> ChatCompletionChunk? {
        if pendingIndex < pending.count {
            let chunk = pending[pendingIndex]
            pendingIndex += 1
            return chunk
        }
        pending.removeAll(keepingCapacity: true)
        pendingIndex = 0
        return nil
    }

    private func whole(_ completion: ChatCompletion) -> ChatCompletionChunk {
        end()
        let chunk = Self.chunk(from: completion)
        received.withLock { $0.chunks.add(chunk) }
        return chunk
    }

    /// The body ended: complete, or cut before the provider's terminal event.
    private func endOfBody() throws {
        end()
        if case .whole(let bytes) = decoding.body { return try wholeBody(bytes) }
        // Liberal where safe: a finish reason without `[DONE]` is a complete answer.
        let (finished, chunks) = received.withLock { ($0.chunks.hasFinished, $0.chunks.chunkCount) }
        if finished || (decoding.isComplete && chunks > 0) { return }
        throw StreamError(kind: .interrupted, message: decoding.isComplete ? Self.endedBeforeAnyChunk : "the connection closed before the end of the stream",
                          partial: currentCompletion)
    }

    /// A terminal event (`[DONE]`, `message_stop`) with no chunk before it: no answer at all (a
    /// gateway that lost its upstream), not an empty one, which still comes as a chunk.
    static let endedBeforeAnyChunk = "the stream ended before any chunk of an answer"

    /// A whole JSON body, read by the format's non-streaming decoder: the answer as one chunk
    /// (handed out by `next` in pull mode), or the provider's error object.
    private func wholeBody(_ bytes: [UInt8]) throws {
        let completion: ChatCompletion
        do {
            completion = try wire.decodeCompletion(bytes)
        } catch WireError.providerError(let type, let message) {
            throw streamError(.providerError, message, providerErrorType: type)
        } catch {
            throw streamError(.malformedEvent, "the server answered with JSON that is not a completion: \(error)")
        }
        let chunk = Self.chunk(from: completion)
        if delivery == .pull { pending.append(chunk) }
        received.withLock { r in
            r.chunks.add(chunk)
            r.timeOutput()
        }
    }

    /// Parses one read into chunks. A bad event ends the stream, but only after the chunks decoded
    /// before it were handed out: the caller sees exactly what the error's partial holds.
    private func ingest(_ raw: UnsafeRawBufferPointer) {
        let pull = delivery == .pull
        var complete = false
        do {
            if pull {
                complete = try decoding.decode(raw) { pending.append($0) }
            } else {
                // Nobody takes the chunks one by one: fold them in under one lock per read.
                try received.withLock { r in
                    complete = try decoding.fold(raw, into: &r.chunks)
                    r.timeOutput()
                }
            }
        } catch let e as WireError {
            if pull { addPending() }
            switch e {
            case .providerError(let type, let message):
                end(with: streamError(.providerError, message, providerErrorType: type))
            default:
                end(with: streamError(.malformedEvent, e.description))
            }
            return
        } catch let e as NotAnEventStream {
            end(with: streamError(.notAnEventStream, e.message))
            return
        } catch let e as SSEParseError {
            // Past a size cap, or framing no parser can follow: the server broke the protocol.
            if pull { addPending() }
            end(with: streamError(.protocolError, e.description))
            return
        } catch {
            if pull { addPending() }
            end(with: streamError(.malformedEvent, "\(error)"))
            return
        }
        if pull { addPending() }
        // The terminal event: the rest of the body is its framing, which need not be waited for
        // long (a server may leave the response open after it). Said again by any later read
        // (there is none from a well-behaved server), which the transfer ignores.
        if complete, case .http(let transfer) = source { transfer.answerIsComplete() }
    }

    /// The SSE parser and the format's decoder, in one stored property: each access to a class's
    /// stored property is checked for exclusivity at run time (~200 instructions), and a read
    /// takes one access of this instead of one of each part.
    private struct Decoding {
        var parser: SSEParser
        /// OpenAI's decoder (most streams) is kept concretely and called with borrowed event data:
        /// no existential call and no array per event. Exactly one of the two is set.
        var openAI: OpenAIChunkDecoder?
        var other: (any ChunkDecoder)?
        /// What the body is: events for the parser, or not (a whole JSON answer, a web page).
        var body = StreamBody.unread

        init(parser: SSEParser, decoder: any ChunkDecoder) {
            self.parser = parser
            if let d = decoder as? OpenAIChunkDecoder { openAI = d } else { other = decoder }
        }

        /// Whether the format's terminal event arrived. Read from the stream (a class), this copies
        /// the whole struct: a read learns it from `decode` and `fold` instead.
        var isComplete: Bool { openAI?.isComplete ?? other?.isComplete ?? false }

        /// Decodes the read's events, each chunk to `emit`; whether the terminal event has come.
        mutating func decode(_ raw: UnsafeRawBufferPointer, emit: (ChatCompletionChunk) -> Void) throws -> Bool {
            guard try body.take(raw, cap: parser.maxEventSize) else { return false }
            if openAI != nil {
                try Self.feed(raw, &parser, &openAI!) { event, d in try d.decode(data: event.data, emit: emit) }
                return openAI!.isComplete
            }
            try Self.feed(raw, &parser, &other!) { event, d in try d.decode(view: event, emit: emit) }
            return other!.isComplete
        }

        /// Folds the read's events into `acc`; OpenAI's without building the chunks that match its
        /// scanner's template. Whether the terminal event has come.
        mutating func fold(_ raw: UnsafeRawBufferPointer, into acc: inout ChunkAccumulator) throws -> Bool {
            guard try body.take(raw, cap: parser.maxEventSize) else { return false }
            if openAI != nil {
                try Self.feed(raw, &parser, &openAI!) { event, d in try d.decode(data: event.data, into: &acc) }
                return openAI!.isComplete
            }
            try Self.feed(raw, &parser, &other!) { event, d in try d.decode(view: event, into: &acc) }
            return other!.isComplete
        }

        /// The parser and a decoder as two arguments: a closure that used `self`'s decoder while
        /// the parser (part of `self`) is being changed would be an overlapping access.
        private static func feed<D>(_ raw: UnsafeRawBufferPointer, _ parser: inout SSEParser, _ decoder: inout D,
                                    _ body: (borrowing SSEEventView, inout D) throws -> Void) throws {
            try parser.feed(raw, onEventView: { event in try body(event, &decoder) })
        }
    }

    /// Folds newly decoded chunks into the accumulator before they are handed out, so the
    /// partial text in an error always includes every chunk the caller has seen.
    private func addPending() {
        guard !pending.isEmpty else { return }
        received.withLock { r in
            for c in pending { r.chunks.add(c) }
            r.timeOutput()
        }
    }

    private var currentCompletion: ChatCompletion { received.withLock { $0.chunks.completion } }

    /// An error from what the server sent, with the key redacted from its texts.
    private func streamError(_ kind: StreamError.Kind, _ message: String, providerErrorType: String? = nil) -> StreamError {
        StreamError(kind: kind, message: Redaction.redacting(key, in: message),
                    providerErrorType: providerErrorType.map { Redaction.redacting(key, in: $0) }, partial: currentCompletion)
    }

    /// The transfer broke off: the stream ends, interrupted with everything received as the
    /// partial, unless the provider's terminal event (`[DONE]`, `message_stop`) had come. Then the
    /// answer is whole and only the body's framing was missing: a server that leaves the response
    /// open after it, or whose close never reaches us, would otherwise fail a paid answer as
    /// stalled and have it asked again.
    private func brokeOff(_ e: TransportError) throws {
        end()
        if decoding.isComplete && received.withLock({ $0.chunks.chunkCount > 0 }) { return }
        throw StreamError(kind: .interrupted, message: e.description, partial: currentCompletion, underlying: e)
    }

    static func chunk(from c: ChatCompletion) -> ChatCompletionChunk {
        ChatCompletionChunk(
            id: c.id, created: c.created, model: c.model, systemFingerprint: c.systemFingerprint,
            choices: c.choices.map { ch in
                .init(index: ch.index,
                      delta: .init(role: .assistant, content: ch.message.content, refusal: ch.message.refusal,
                                   toolCalls: ch.message.toolCalls?.enumerated().map { i, t in
                                       .init(index: i, id: t.id, type: t.type, name: t.function.name, arguments: t.function.arguments)
                                   }),
                      finishReason: ch.finishReason, providerFinishReason: ch.providerFinishReason)
            },
            usage: c.usage)
    }
}
