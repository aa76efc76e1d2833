internal import CCurl
internal import CCurlShim
import Dispatch
import Foundation
import ChoreoLocking
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Takes a response body on the curl loop thread as it arrives, instead of a task pulling it:
/// no copy of each read and no task wake-up per read. Attached with `CurlTransfer.attach`.
package protocol BodySink: AnyObject, Sendable {
    /// The next bytes of the body, valid only during the call. Returning false aborts the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The body ended: `.success` when the response was complete. Called once.
    func finish(_ result: Result<Void, any Error>)
}

/// One request's life in the curl loop. Its state has two parts, each with one rule:
/// - `machine` (`CurlTransfer.StateMachine`, under a lock): where the transfer is in its life, who
///   waits for its head or body, and the body buffered for a reader. Every change is one of the
///   machine's events; the transfer performs the action it returns after the lock is released.
/// - `onLoop` (`LoopBound`): the easy handle and what curl's callbacks keep between calls (the head
///   being parsed, the stall clock, and the sink the machine sends the body to, so that each read
///   goes there without the machine's lock). Only the loop thread touches it, and every access
///   checks so.
///
/// See `CurlEventLoop` for the threading and retain contract.
final class CurlTransfer: @unchecked Sendable {  // @unchecked: `machine` is locked; `onLoop` checks its thread
    /// Above this many buffered body bytes the transfer pauses until the consumer catches up.
    static let highWaterMark = 1 << 20
    /// A response whose header lines (every block: 1xx, final, trailers) pass this many bytes ends
    /// as a protocol error instead of growing memory. Real heads are a few KiB.
    static let maxHeaderBytes = 256 << 10
    /// What counts as progress for the stall watchdog: a completed line, or this many bytes. A
    /// body dripping a byte at a time never completes an SSE line in time, so it stalls; a
    /// keep-alive comment line is progress.
    static let progressBytes = 1024

    /// The request's URL, for `origin`.
    private let url: String
    /// `scheme://host:port` of the request, for its errors. Worked out only when one is made.
    var origin: String { HTTPRequest.origin(of: url) }
    /// The origin, over HTTPS only: where curl asks for HTTP/2 and transfers may share a
    /// connection (the loop's window per origin, `CurlEventLoop.unsent`). Made on the caller's thread.
    let httpsOrigin: String?
    /// Lives as long as the process (`CurlTransport`), like every loop.
    private let loop: CurlEventLoop
    private let machine = Locked(StateMachine())
    let bytesReceived = Atomic<Int>(0)

    /// What only the loop thread touches.
    private struct OnLoop {
        /// Its body and headers are dropped once curl has its own copies (`makeEasyHandle`).
        var request: HTTPRequest
        var easy: UnsafeMutableRawPointer?
        var headerList: UnsafeMutablePointer<curl_slist>?
        /// The head as curl's header lines build it, until it is delivered.
        var status = 0
        var version = ""
        var headers = HeaderFields()
        var headerBytes = 0
        /// The head went to the state machine; later header lines (trailers) are only counted.
        var headDelivered = false
        /// When the transfer last made progress (monotonic ns: a header line, a body line end, or
        /// `progressBytes` bytes); the loop ends the transfer after `stallTimeout` without any.
        /// Restarted when the loop lifts a consumer's pause: waiting for the consumer is not silence.
        /// Counts only once the request went out (`sentAt`).
        var lastActivity: UInt64 = 0
        /// When curl sent the request on a connection (`CURLOPT_PREREQFUNCTION`; monotonic ns, 0
        /// before): until then the transfer waits in curl's queue for a connection, or connects
        /// (the connect timeout's business). The body's first byte has its own timeout from then
        /// (`HTTPRequest.firstByteTimeout`).
        var sentAt: UInt64 = 0
        /// The origin whose count of unsent transfers this one is in (`CurlEventLoop.unsent`),
        /// from when the loop hands it to curl until curl sends it or it leaves the multi.
        var unsentOrigin: String?
        /// Waiting in the loop's queue for its origin's window (`CurlEventLoop.held`), no easy
        /// handle yet. A cancel ends it there.
        var isHeld = false
        /// When the consumer said it had its whole answer (`answerIsComplete`): from then a silence
        /// of `endGrace` ends the transfer as complete.
        var answerCompleteAt: UInt64?
        /// Body bytes since `lastActivity` without a line end (see `progressBytes`).
        var bytesSinceProgress = 0
        var startedAt: UInt64 = 0
        /// Why this side aborted the transfer (curl then reports only a write error).
        var abortReason: TransportError?
        /// Where the body goes once the machine sends it to a sink (the head of an armed transfer,
        /// or `attachOnLoop`), until the end: each read goes there without the machine's lock.
        /// The machine leaves that state only by `finish`, on this thread (`end` clears it first).
        var sink: (any BodySink)?
    }
    private var onLoop: LoopBound<OnLoop>

    /// curl's detailed message for a failure (CURLOPT_ERRORBUFFER), written by curl at any time
    /// while the handle lives. Owned by the transfer so its address never moves; an array's
    /// storage pointer is valid only inside `withUnsafeMutableBufferPointer`.
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        buffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        return buffer
    }()

    init(request: HTTPRequest, loop: CurlEventLoop) {
        self.loop = loop
        self.url = request.url
        self.httpsOrigin = request.url.utf8.prefix(6).map { $0 | 0x20 }.elementsEqual("https:".utf8) ? HTTPRequest.origin(of: request.url) : nil
        self.onLoop = LoopBound(OnLoop(request: request), loop: loop)
    }

    /// The easy handle, which writes into `errorBuffer`, was released when the loop removed the
    /// transfer (the loop retains every transfer whose handle is in the multi).
    deinit { errorBuffer.deallocate() }

    // MARK: consumer side (any thread)

    /// Before the transfer is submitted: a 2xx body goes straight to `sink` from its first byte.
    func arm(_ sink: any BodySink) { machine.withLock { $0.arm(sink) } }

    var isFinished: Bool { machine.withLock { $0.isFinished } }

    /// Whether curl is paused for the reader (or about to be unpaused): not a stall of the server.
    var waitsForConsumer: Bool { machine.withLock { $0.waitsForConsumer } }

    func awaitHead() async throws -> HTTPResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
                onHead { c.resume(with: $0) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// `receive` gets the head when it arrives (on the loop thread), or the failure that ends the
    /// transfer first; at once, on this thread, when either happened already. Once per transfer.
    func onHead(_ receive: @escaping HeadWaiter) {
        switch machine.withLock({ $0.waitForHead(receive) }) {
        case .wait: break
        case .resume(let head): receive(head)
        }
    }

    /// The next bytes of the body, `nil` at its end.
    func nextBytes() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: BodyWaiter) in
                switch machine.withLock({ $0.read(c) }) {
                case .wait: break
                case .bytes(let bytes, let resumeTransfer):
                    if resumeTransfer { loop.submit(.resume(self)) }
                    c.resume(returning: bytes)
                case .end(.success): c.resume(returning: nil)
                case .end(.failure(let e)): c.resume(throwing: e)
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Sends the rest of the body to `sink` on the loop thread, starting with what is buffered.
    func attach(_ sink: any BodySink) { loop.submit(.attach(self, sink)) }

    /// Ends the transfer as cancelled, unless it ended first.
    func cancel() { loop.submit(.cancel(self)) }

    // MARK: loop thread

    var easy: UnsafeMutableRawPointer? { onLoop.value.easy }

    /// Creates and configures the easy handle; nil (the transfer then has ended with the error)
    /// when curl refuses it or one of its options.
    func makeEasyHandle() -> UnsafeMutableRawPointer? {
        guard let easy = curl_easy_init() else {
            end(.failure(TransportError(kind: .other, message: "curl_easy_init failed", origin: origin)))
            return nil
        }
        onLoop.value.easy = easy
        do throws(TransportError) {
            try configure(easy)
        } catch {
            releaseEasyHandle()
            end(.failure(TransportError(kind: error.kind, curlCode: error.curlCode, message: error.message, origin: origin)))
            return nil
        }
        machine.withLock { $0.start() }
        return easy
    }

    private func configure(_ easy: UnsafeMutableRawPointer) throws(TransportError) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        let request = onLoop.value.request
        try set(easy, CURLOPT_URL, request.url)
        try set(easy, CURLOPT_NOSIGNAL, 1)
        try set(easy, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        // HTTP/2 only over TLS: Debian 12's libcurl breaks on reused cleartext HTTP/2 connections.
        // A libcurl built without HTTP/2 refuses the option and speaks HTTP/1.1, as it should.
        _ = try? set(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        // Wait for a connection that may multiplex (HTTP/2) rather than open a new one; over
        // cleartext HTTP/1.1 that would serialise requests behind the first response.
        if httpsOrigin != nil { try set(easy, CURLOPT_PIPEWAIT, 1) }
        try set(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        // Stalls are detected by the loop's own watchdog (`lastActivity`, `progressBytes`), not
        // CURLOPT_LOW_SPEED_*: curl averages speed over ~5 s, so its check fires seconds late.
        // The total `timeout` is the same watchdog's (from `startedAt`), not CURLOPT_TIMEOUT_MS,
        // whose error curl reports as the connect timeout's.
        onLoop.value.lastActivity = DispatchTime.now().uptimeNanoseconds
        onLoop.value.startedAt = onLoop.value.lastActivity
        try set(easy, CURLOPT_TCP_KEEPALIVE, 1)
        // Redirects are never followed: curl would send custom key headers (x-api-key,
        // x-goog-api-key) to whatever host a Location names. A 3xx is an HTTP error.
        try set(easy, CURLOPT_FOLLOWLOCATION, 0)
        // Through an HTTPS proxy (https_proxy, http_proxy, all_proxy from the environment, as libcurl
        // reads them), the proxy's "200 Connection established" must not reach `headerLine`: it
        // would be taken for the response head and hide the server's own 429 or 401.
        try set(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        if let proxy = request.proxy {
            try set(easy, CURLOPT_PROXY, proxy.url)
            try set(easy, CURLOPT_HTTPPROXYTUNNEL, proxy.tunnel ? 1 : 0)
        }
        try set(easy, CURLOPT_SSL_VERIFYPEER, 1)
        try set(easy, CURLOPT_SSL_VERIFYHOST, 2)
        // libcurl does not itself insist on TLS 1.2 for HTTP/2 (RFC 9113 §9.2 does), and an
        // OpenSSL configured more loosely than Debian's would offer 1.0; no provider needs it.
        try set(easy, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
        // A private CA's file (curl copies the string). Only the file: CURLOPT_CAPATH keeps its
        // default, so on Debian's libcurl /etc/ssl/certs stays trusted beside it.
        if let caFile = request.caFile { try set(easy, CURLOPT_CAINFO, caFile) }
        // The buffers curl keeps for each transfer. Over cleartext, 64 KiB brings a fast stream's
        // bytes in fewer reads (a firehose job's 85 KB: 2 `recvfrom` and 3 `poll` instead of 6
        // and 7; BENCHMARKS.md, round 15). Over TLS data comes in records of at most 16 KiB, and
        // curl's default of 16 KiB cost the TLS firehose no measurable work (callgrind: +0.45%
        // over HTTP/2); libcurl 7.88 also copies each HTTPS request into an upload buffer of its
        // own, 64 KiB unless told (16 KiB is its least). Both at 16 KiB, 12,000 slow streams over
        // HTTP/2 peak at 348 MiB instead of 437 (round 20).
        if httpsOrigin != nil {
            try set(easy, CURLOPT_BUFFERSIZE, 16 * 1024)
            try set(easy, CURLOPT_UPLOAD_BUFFERSIZE, 16 * 1024)
        } else {
            try set(easy, CURLOPT_BUFFERSIZE, 64 * 1024)
        }
        if request.method == "POST" {
            try set(easy, CURLOPT_POST, 1)
            try check(choreo_easy_setopt_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)),
                      "curl_easy_setopt", option: CURLOPT_POSTFIELDSIZE_LARGE.rawValue)
            // COPYPOSTFIELDS: curl keeps its own copy, so the body need not outlive this call.
            let code = request.body.withUnsafeBytes { raw in
                choreo_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
            try check(code, "curl_easy_setopt", option: CURLOPT_COPYPOSTFIELDS.rawValue)
        } else if request.method != "GET" {
            try set(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers.fields { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip for bodies
        onLoop.value.headerList = list
        try set(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        // curl holds the body (COPYPOSTFIELDS) and the header lines now; with thousands of
        // streams open, a second copy of each request is megabytes.
        onLoop.value.request.body = []
        onLoop.value.request.headers = HeaderFields()
        try set(easy, CURLOPT_WRITEDATA, me)
        try check(choreo_easy_setopt_write_callback(easy) { ptr, size, count, userdata in
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return t.received(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }, "curl_easy_setopt", option: CURLOPT_WRITEFUNCTION.rawValue)
        // The moment the request leaves on a connection (made or reused): the stall clock starts.
        try set(easy, CURLOPT_PREREQDATA, me)
        try check(choreo_easy_setopt_prereq_callback(easy) { userdata, _, _, _, _ in
            Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue().requestLeaves()
            return 0  // CURL_PREREQFUNC_OK
        }, "curl_easy_setopt", option: CURLOPT_PREREQFUNCTION.rawValue)
        try set(easy, CURLOPT_HEADERDATA, me)
        try check(choreo_easy_setopt_header_callback(easy) { ptr, size, count, userdata in
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return t.headerLine(UnsafeRawBufferPointer(start: ptr, count: size * count)) ? size * count : 0
        }, "curl_easy_setopt", option: CURLOPT_HEADERFUNCTION.rawValue)
    }

    private func set(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: Int) throws(TransportError) {
        try check(choreo_easy_setopt_long(easy, option, value), "curl_easy_setopt", option: option.rawValue)
    }

    private func set(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: String) throws(TransportError) {
        try check(choreo_easy_setopt_string(easy, option, value), "curl_easy_setopt", option: option.rawValue)
    }

    private func set(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: UnsafeMutableRawPointer?) throws(TransportError) {
        try check(choreo_easy_setopt_pointer(easy, option, value), "curl_easy_setopt", option: option.rawValue)
    }

    func releaseEasyHandle() {
        if let easy = onLoop.value.easy { curl_easy_cleanup(easy) }
        onLoop.value.easy = nil
        if let headerList = onLoop.value.headerList { curl_slist_free_all(headerList) }
        onLoop.value.headerList = nil
    }

    /// curl's message for `code`, with the system's reason when curl's own is generic (curl 7.88
    /// says "Couldn't connect to server" for a refused connection; the outage line wants "refused").
    /// Called on the loop thread while the handle lives.
    func errorMessage(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        var message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        var osErrno = 0
        // Best effort: without the errno the message is only less specific.
        if let easy = onLoop.value.easy, (try? check(choreo_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno), "curl_easy_getinfo")) != nil, osErrno != 0 {
            let reason = String(cString: strerror(Int32(osErrno)))
            if !message.lowercased().contains(reason.lowercased()) { message += " (\(reason))" }
        }
        return message
    }

    /// One header line from curl, parsed as bytes (every response has a dozen; Foundation's
    /// trimming was a tenth of a short job's CPU). False aborts the transfer (the header cap).
    private func headerLine(_ raw: UnsafeRawBufferPointer) -> Bool {
        enum Line { case kept, statusLine, endOfHead, tooLarge }
        let now = DispatchTime.now().uptimeNanoseconds
        // One access to the loop state for the whole line (each is checked at run time).
        let line: Line = onLoop.update { v in
            v.lastActivity = now
            v.headerBytes += raw.count
            if v.headerBytes > Self.maxHeaderBytes { return .tooLarge }
            if v.headDelivered { return .kept }  // a trailer: counted above, not kept
            var end = raw.count
            while end > 0, raw[end - 1] == 0x0A || raw[end - 1] == 0x0D { end -= 1 }
            // End of one header block; 1xx blocks are followed by the real one.
            if end == 0 { return v.status >= 200 ? .endOfHead : .kept }
            let line = UnsafeRawBufferPointer(rebasing: raw[..<end])
            if end >= 5 && line[0] == UInt8(ascii: "H") && line[1] == UInt8(ascii: "T") && line[2] == UInt8(ascii: "T")
                && line[3] == UInt8(ascii: "P") && line[4] == UInt8(ascii: "/") {
                (v.version, v.status) = Self.statusLine(line)
                v.headers = HeaderFields()
                return .statusLine
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .kept }
            var start = colon + 1, e = end
            while start < e, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
            while e > start, line[e - 1] == 0x20 || line[e - 1] == 0x09 { e -= 1 }
            v.headers.add(name: UnsafeRawBufferPointer(rebasing: line[..<colon]), value: UnsafeRawBufferPointer(rebasing: line[start..<e]))
            return .kept
        }
        switch line {
        case .kept: break
        case .statusLine: machine.withLock { $0.statusLineReceived() }
        case .endOfHead: deliverHead()
        case .tooLarge:
            onLoop.value.abortReason = TransportError(kind: .protocolError, message: "the response's header block is larger than \(Self.maxHeaderBytes) bytes",
                                                      origin: origin)
            return false
        }
        return true
    }

    /// The version and status of a status line (`HTTP/1.1 200 OK`, `HTTP/2 200`): the words before
    /// and after the first run of spaces; a status that is not all digits (or has more than nine) is 0.
    static func statusLine(_ line: UnsafeRawBufferPointer) -> (version: String, status: Int) {
        var k = 0
        while k < line.count, line[k] != 0x20 { k += 1 }
        let version = String(decoding: UnsafeRawBufferPointer(rebasing: line[..<k]), as: UTF8.self)
        while k < line.count, line[k] == 0x20 { k += 1 }
        var status = 0, digits = 0
        while k < line.count, line[k] != 0x20 {
            guard line[k] >= 0x30, line[k] <= 0x39, digits < 9 else { return (version, 0) }
            status = status * 10 + Int(line[k] - 0x30)
            digits += 1
            k += 1
        }
        return (version, status)
    }

    /// Once per transfer, at the end of the final header block (or before the first body byte, or
    /// at a complete end, if curl gave no such line).
    private func deliverHead() {
        let head: HTTPResponseHead = onLoop.update { v in
            v.headDelivered = true
            v.headers.compact()
            let head = HTTPResponseHead(status: v.status, headers: v.headers, version: v.version,
                                        receivedAt: Date().timeIntervalSince1970)
            v.headers = HeaderFields()  // the head holds it now
            return head
        }
        let (waiter, sink) = machine.withLock { $0.headReceived(head) }
        if let sink { onLoop.value.sink = sink }
        waiter?(.success(head))
    }

    /// curl's write callback: the machine says whether the bytes go to the sink, to a waiting
    /// reader or into the buffer, or pause the transfer because the reader is `highWaterMark`
    /// bytes behind.
    private func received(_ bytes: UnsafeRawBufferPointer) -> Int {
        let (headDelivered, routed) = onLoop.update { v in
            v.bytesSinceProgress += bytes.count
            if v.bytesSinceProgress >= Self.progressBytes || (bytes.baseAddress.map { memchr($0, 0x0A, bytes.count) != nil } ?? false) {
                v.lastActivity = DispatchTime.now().uptimeNanoseconds
                v.bytesSinceProgress = 0
            }
            return (v.headDelivered, v.sink)
        }
        if !headDelivered { deliverHead() }
        if let sink = headDelivered ? routed : onLoop.value.sink {
            bytesReceived.add(bytes.count, ordering: .relaxed)
            return sink.receive(bytes) ? bytes.count : 0
        }
        switch machine.withLock({ $0.received(bytes) }) {
        case .deliver(let sink):
            bytesReceived.add(bytes.count, ordering: .relaxed)
            return sink.receive(bytes) ? bytes.count : 0
        case .resume(let reader, let copy):
            bytesReceived.add(bytes.count, ordering: .relaxed)
            reader.resume(returning: copy)
            return bytes.count
        case .buffered:
            bytesReceived.add(bytes.count, ordering: .relaxed)
            return bytes.count
        case .pause:
            return Int(CURL_WRITEFUNC_PAUSE)
        }
    }

    /// Ends the transfer: `curlCode` 0 is a complete response.
    func finish(curlCode: Int, message: String) {
        let error: (any Error)? = curlCode == 0 ? nil : onLoop.value.abortReason ?? classify(curlCode: curlCode, message: message)
        end(error.map { .failure($0) } ?? .success(()))
    }

    func finishCancelled() { end(.failure(CancellationError())) }

    /// The loop's bookkeeping of its origin window (see `CurlEventLoop.unsent`), loop thread only.
    var unsentOrigin: String? {
        get { onLoop.value.unsentOrigin }
        set { onLoop.value.unsentOrigin = newValue }
    }
    var isHeld: Bool {
        get { onLoop.value.isHeld }
        set { onLoop.value.isHeld = newValue }
    }

    /// Ends the transfer from this side: with an error (a curl call refused, see `check`; the
    /// watchdog's), or as complete (the watchdog's `endGrace`).
    func end(early result: Result<Void, TransportError>) { end(result.mapError { $0 as any Error }) }

    /// Lifts the pause the reader asked to lift (`StateMachine.ReadAction`), unless the transfer
    /// ended meanwhile. curl may call `received` again before this returns.
    func resume() throws(TransportError) {
        guard machine.withLock({ $0.resume() }) else { return }
        try unpauseCurl()
    }

    private func unpauseCurl() throws(TransportError) {
        guard let easy = onLoop.value.easy else { return }
        // Before curl_easy_pause, which may deliver bytes (and pause again) before it returns.
        onLoop.value.lastActivity = DispatchTime.now().uptimeNanoseconds
        onLoop.value.bytesSinceProgress = 0
        try check(curl_easy_pause(easy, 0 /* CURLPAUSE_CONT */), "curl_easy_pause")
    }

    /// How long the rest of a body may stay silent once its consumer has the whole answer
    /// (`answerIsComplete`): its framing's end comes with the terminal event or a moment after.
    static let endGrace: Double = 1

    func answerIsComplete() {
        if loop.isLoopThread {
            answerIsCompleteOnLoop()
        } else if !isFinished {  // a reader that took the terminal event from the buffer after the end wakes nobody
            loop.submit(.answerComplete(self))
        }
    }

    func answerIsCompleteOnLoop() {
        if onLoop.value.answerCompleteAt == nil { onLoop.value.answerCompleteAt = DispatchTime.now().uptimeNanoseconds }
    }

    /// How the loop's watchdog must end this transfer now, or nil: failed when its total
    /// `timeout` passed (however steadily it progressed) or it stalled, complete when its
    /// consumer had the whole answer and the rest stayed silent for `endGrace`.
    func watchdog(now: UInt64) -> Result<Void, TransportError>? {
        let startedAt = onLoop.value.startedAt
        if let timeout = onLoop.value.request.timeout, now > startedAt, Double(now - startedAt) / 1e9 >= timeout {
            return .failure(TransportError(kind: .timedOut, message: "the request took longer than its timeout of \(timeout.formatted2) s "
                                           + "(connecting and the whole response)", origin: origin))
        }
        if let completeAt = onLoop.value.answerCompleteAt,
           isSilent(since: max(completeAt, onLoop.value.lastActivity), for: Self.endGrace, now: now) { return .success(()) }
        guard let stall = stall(now: now) else { return nil }
        let request = onLoop.value.request
        switch stall {
        case .noFirstByte:
            // Whether the server answered at all tells a server that never took the request from
            // one that sent its head and then nothing (queued, or a model still reasoning).
            let head = onLoop.value.headerBytes
            return .failure(TransportError(kind: .stalled, message: "no byte of an answer for \(request.firstByteWait.formatted2) s since the request went out"
                                           + (head == 0 ? "" : " (only its head, \(head) bytes)")
                                           + " (the first-byte timeout: a model that reasons longer, or a server's queue that long, needs more)",
                                           origin: origin))
        case .silent:
            return .failure(TransportError(kind: .stalled, message: "no progress (a complete line or \(Self.progressBytes) bytes) for "
                                           + "\(request.stallTimeout.formatted2) s, \(onLoop.value.headerBytes + bytesReceived.load(ordering: .relaxed)) bytes of the answer in",
                                           origin: origin))
        }
    }

    /// curl is about to send the request on a connection: silence counts from now. Until now the
    /// transfer waited in curl's queue for a connection (every allowed one busy, or an HTTP/2 one
    /// being set up), or connected (a full accept queue makes TCP retry for seconds): the connect
    /// timeout's business, not a stall of the server.
    private func requestLeaves() {
        if let origin = onLoop.value.unsentOrigin {
            onLoop.value.unsentOrigin = nil
            loop.sent(to: origin)
        }
        onLoop.update { v in
            v.lastActivity = DispatchTime.now().uptimeNanoseconds
            v.sentAt = v.lastActivity
            v.bytesSinceProgress = 0
        }
    }

    private enum Stall { case noFirstByte, silent }

    /// Whether the transfer stalled: no byte of the body for the first-byte timeout since the
    /// request went out, or, once the body began, no progress for the stall timeout while the
    /// consumer was keeping up (a paused transfer is waiting for its consumer, not for the server).
    ///
    /// Before the body's first byte silence is not a stall of a stream: a model that reasons
    /// before it writes sends nothing meanwhile (OpenAI's chat completions, Gemini's thinking), and
    /// a server that runs fewer requests than it is sent (Ollama, llama.cpp's slots, vLLM past its
    /// batch) sends those it holds nothing, or only the head, until a slot frees.
    private func stall(now: UInt64) -> Stall? {
        let (lastActivity, sentAt, stallTimeout, firstByteWait) = onLoop.update { v in
            (v.lastActivity, v.sentAt, v.request.stallTimeout, v.request.firstByteWait)
        }
        guard sentAt > 0 else { return nil }
        if bytesReceived.load(ordering: .relaxed) == 0 {
            return isSilent(since: sentAt, for: firstByteWait, now: now) ? .noFirstByte : nil
        }
        return isSilent(since: lastActivity, for: stallTimeout, now: now) ? .silent : nil
    }

    /// Whether nothing came for `seconds` since `since` while the consumer was keeping up.
    private func isSilent(since: UInt64, for seconds: Double, now: UInt64) -> Bool {
        guard now > since, Double(now - since) / 1e9 >= seconds else { return false }
        return !machine.withLock { $0.waitsForConsumer }
    }

    /// The one way a transfer ends (the machine refuses a second end).
    private func end(_ result: Result<Void, any Error>) {
        if case .success = result, !onLoop.value.headDelivered { deliverHead() }
        onLoop.value.sink = nil
        switch machine.withLock({ $0.finish(result) }) {
        case .none: break
        case .failHead(let waiter, let error): waiter(.failure(error))
        case .finishSink(let sink, let result): sink.finish(result)
        case .endReader(let reader, .success): reader.resume(returning: nil)
        case .endReader(let reader, .failure(let error)): reader.resume(throwing: error)
        }
    }

    private func classify(curlCode: Int, message: String) -> TransportError {
        let kind: TransportError.Kind
        switch curlCode {
        case 28:  // CURLE_OPERATION_TIMEDOUT: only the connect timeout is curl's (stalls and `timeout` are ours, see `watchdog`)
            kind = .connect
        case 5, 6, 7: kind = .connect
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: kind = .tls
        case 18, 52, 55, 56, 92, 16: kind = .connectionLost
        // CURLE_UNSUPPORTED_PROTOCOL is also what a reply curl refuses as HTTP gives ("Unsupported
        // HTTP version", HTTP/0.9): with an http(s) URL that is the server's doing, not ours.
        case 1 where onLoop.value.request.url.lowercased().hasPrefix("http"): kind = .protocolError
        case 8, 100: kind = .protocolError  // CURLE_WEIRD_SERVER_REPLY, CURLE_TOO_LARGE
        case 1, 3: kind = .invalidRequest
        default: kind = .other
        }
        return TransportError(kind: kind, curlCode: curlCode, message: message, origin: origin)
    }

    /// Loop thread: hands the buffered bytes to `sink`, then routes every later read to it. A
    /// transfer that already ended finishes the sink at once. Returns false when the sink refused
    /// the buffered bytes (the loop then cancels the transfer).
    func attachOnLoop(_ sink: any BodySink) throws(TransportError) -> Bool {
        switch machine.withLock({ $0.attach(sink) }) {
        case .feedAndFinish(let buffered, let result):
            if !buffered.isEmpty { _ = buffered.withUnsafeBytes { sink.receive($0) } }
            sink.finish(result)
            return true
        case .feed(let buffered, let unpause):
            onLoop.value.sink = sink
            if !buffered.isEmpty, !buffered.withUnsafeBytes({ sink.receive($0) }) { return false }
            if unpause { try unpauseCurl() }
            return true
        }
    }
}
