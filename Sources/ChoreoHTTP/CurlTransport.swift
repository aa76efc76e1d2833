internal import CCurl
import Synchronization

/// The HTTP client: every request of the process runs on one libcurl multi handle and one thread.
///
/// `execute` returns once the status line and headers have arrived (so a caller sees a 429 and
/// its `retry-after` before any body); the body follows as an `HTTPBody` async sequence.
public final class CurlTransport: Sendable {
    /// The process-wide transport. Its thread starts on first use and lives as long as the process.
    public static let shared = CurlTransport()

    private let loop: CurlEventLoop

    /// A transport with a loop thread of its own, for tests that must hold that thread without
    /// stalling everyone else's transfers. Like the shared one's, its thread lives as long as the
    /// process: make few.
    package init() {
        if let error = Self.globalInitError { preconditionFailure("\(error)") }
        loop = CurlEventLoop()
        loop.start()
    }

    /// `curl_global_init` must run once, before any other curl call. It fails only when memory
    /// runs out at start-up, when no request could be made anyway.
    private static let globalInitError: TransportError? = {
        do throws(TransportError) { try check(curl_global_init(Int(CURL_GLOBAL_DEFAULT)), "curl_global_init") } catch { return error }
        return nil
    }()

    /// Sends `request` and waits for its response head. Cancelling the calling task, or dropping
    /// the response's body unread, removes the transfer from curl and frees its handle.
    public func execute(_ request: HTTPRequest, in group: TransferGroup? = nil) async throws -> HTTPResponse {
        try await execute(request, in: group, sendingSuccessTo: nil)
    }

    /// `execute`, except that the body of a 2xx response goes to the sink that `makeSink` returns
    /// (made before the request is sent), on the loop thread from its first byte, instead of
    /// being buffered for a reader. Any other status leaves the body to be read as usual. The sink
    /// gets a `TransferHandle`, which does not keep the transfer going: the response's `body` does.
    /// `group`: the requests this one can be stopped with until its head arrives (`TransferGroup`).
    package func execute(_ request: HTTPRequest, in group: TransferGroup? = nil,
                         sendingSuccessTo makeSink: ((TransferHandle) -> any BodySink)?) async throws -> HTTPResponse {
        let (transfer, body) = begin(request, in: group, sendingSuccessTo: makeSink)
        defer { group?.leave(transfer) }
        let head = try await transfer.awaitHead()
        return HTTPResponse(head: head, body: body)
    }

    /// `execute` with no task waiting for the head: `onHead` gets the response when its head
    /// arrives, or the error that came first, on the loop thread (don't block it), and once. For a
    /// caller that sends many requests and takes their heads as they come; cancel one through
    /// its `group` (`TransferGroup.stopAll`) until then, and through its body after.
    package func send(_ request: HTTPRequest, in group: TransferGroup? = nil,
                      sendingSuccessTo makeSink: ((TransferHandle) -> any BodySink)?,
                      onHead: @escaping @Sendable (Result<HTTPResponse, any Error>) -> Void) {
        let (transfer, body) = begin(request, in: group, sendingSuccessTo: makeSink)
        // Holds the body (and so the transfer) until the head: the transfer keeps this closure only
        // until then.
        transfer.onHead { head in
            group?.leave(transfer)
            onHead(head.map { HTTPResponse(head: $0, body: body) })
        }
    }

    /// What `execute` and `send` share: the transfer, on the loop and in `group`, and the body
    /// that keeps it going.
    private func begin(_ request: HTTPRequest, in group: TransferGroup?,
                       sendingSuccessTo makeSink: ((TransferHandle) -> any BodySink)?) -> (CurlTransfer, HTTPBody) {
        let transfer = CurlTransfer(request: request, loop: loop)
        let body = HTTPBody(owner: TransferOwner(transfer))
        if let makeSink { transfer.arm(makeSink(TransferHandle(transfer: transfer))) }
        loop.submit(.add(transfer))
        group?.join(transfer)
        return (transfer, body)
    }

    /// Keeps at most `count` connections open at once, busy and idle: curl closes the oldest idle
    /// one (to any host) to open another, or holds a transfer until one frees, rather than fail to
    /// open a socket. By default the process's open-files limit at the transport's start, less a
    /// reserve; lower it when each connection costs more than one file (a server in this process).
    public func limitConnections(to count: Int) { loop.submit(.limitConnections(count)) }

    /// The version string of the libcurl in use (`libcurl/7.88.1 OpenSSL/3.0.19 …`).
    public static var curlVersion: String { String(cString: curl_version()) }
}

/// Cancels its transfer when the last `HTTPBody` holding it (a copy, an iterator, a stream over
/// it) goes away before the end. Only the consumer's side holds it; see `TransferHandle`.
final class TransferOwner: Sendable {
    let transfer: CurlTransfer
    /// Whether the body gave out its iterator (a body has one consumer).
    let iteratorMade = Atomic<Bool>(false)
    init(_ transfer: CurlTransfer) { self.transfer = transfer }
    deinit { if !transfer.isFinished { transfer.cancel() } }
}

/// A response: head first, body as a sequence of byte chunks.
public struct HTTPResponse: Sendable {
    public let head: HTTPResponseHead
    public let body: HTTPBody
    public var status: Int { head.status }
    public var headers: HeaderFields { head.headers }
}

/// A response body as it arrives. Consume it once: a second `makeAsyncIterator()` stops the
/// process (AHC's body has the same rule). The transfer pauses while the consumer is more than a
/// megabyte behind, so a slow reader never makes memory grow without bound. Dropping every copy
/// of the body and its iterator before the end cancels the transfer.
public struct HTTPBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let owner: TransferOwner

    public func makeAsyncIterator() -> Iterator {
        preconditionFirstIterator(owner.iteratorMade, of: "HTTPBody")
        return Iterator(owner: owner)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let owner: TransferOwner
        public mutating func next() async throws -> [UInt8]? { try await owner.transfer.nextBytes() }
    }

    /// Reads the whole body, stopping after `limit` bytes (for error bodies and small replies).
    public func collect(upTo limit: Int = 1 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await bytes in self {
            out.append(contentsOf: bytes.prefix(limit - out.count))
            if out.count >= limit { break }
        }
        return out
    }

    /// Bytes received so far.
    public var bytesReceived: Int { owner.transfer.bytesReceived.load(ordering: .relaxed) }

    /// The transfer without its ownership, for a consumer that a transfer feeds.
    package var handle: TransferHandle { TransferHandle(transfer: owner.transfer) }
}

/// A body's transfer without owning it: it reads, attaches, cancels and counts, but the transfer
/// is cancelled when the last `HTTPBody` goes, whatever handles are left. For a `BodySink`, which
/// its transfer holds: a sink that held the `HTTPBody` would keep its own transfer going, a cycle
/// that nothing breaks until the response ends, so a dropped stream would never be cancelled.
package struct TransferHandle: Sendable {
    let transfer: CurlTransfer

    /// The next bytes of the body, nil at its end (pull: the body must not be attached).
    package func next() async throws -> [UInt8]? { try await transfer.nextBytes() }

    /// Sends the rest of the body to `sink` on the loop thread instead of to a reader, starting
    /// with what is buffered (ChoreoAI's push mode). Once per body.
    package func attach(_ sink: any BodySink) { transfer.attach(sink) }

    /// Ends the transfer now; a waiting reader gets `CancellationError`.
    package func cancel() { transfer.cancel() }

    /// The consumer has its whole answer (the provider's terminal event): what is left of the
    /// body is its framing. If that does not come within `CurlTransfer.endGrace` of silence, the
    /// transfer ends as complete (its connection closed, not reused) instead of waiting out the
    /// stall timeout. Any thread; once is enough.
    package func answerIsComplete() { transfer.answerIsComplete() }

    /// Bytes received so far.
    package var bytesReceived: Int { transfer.bytesReceived.load(ordering: .relaxed) }
}
