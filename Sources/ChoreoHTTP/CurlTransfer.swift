internal import CCurl
internal import CCurlShim
import Dispatch
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

/// One request's life in the curl loop: its easy handle (loop thread only) and the state its
/// consumer reads (`state`, locked). See `CurlEventLoop` for the threading and retain contract.
final class CurlTransfer: @unchecked Sendable {
    /// Above this many buffered body bytes the transfer pauses until the consumer catches up.
    static let highWaterMark = 1 << 20
    /// A response whose header lines (every block: 1xx, final, trailers) pass this many bytes ends
    /// as a protocol error instead of growing memory. Real heads are a few KiB.
    static let maxHeaderBytes = 256 << 10
    /// What counts as progress for the stall watchdog: a completed line, or this many bytes. A
    /// body dripping a byte at a time never completes an SSE line in time, so it stalls; a
    /// keep-alive comment line is progress.
    static let progressBytes = 1024

    /// Its body and headers are dropped once curl has its own copies (`makeEasyHandle`).
    private(set) var request: HTTPRequest
    let origin: String
    private weak var loop: CurlEventLoop?

    // Loop-thread state.
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// curl's detailed message for a failure (CURLOPT_ERRORBUFFER), written by curl at any time
    /// while the handle lives. Owned by the transfer so its address never moves; an array's
    /// storage pointer is valid only inside `withUnsafeMutableBufferPointer`.
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        buffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        return buffer
    }()
    private var status = 0
    private var version = ""
    private var headers = HeaderFields()
    private var connected = false
    /// When the transfer last made progress (monotonic ns: a header line, a body line end, or
    /// `progressBytes` bytes); the loop ends the transfer after `stallTimeout` without any.
    /// Restarted when the loop lifts a consumer's pause: waiting for the consumer is not silence.
    private(set) var lastActivity: UInt64 = 0
    /// Whether the write callback paused the transfer for its consumer and the loop has not yet
    /// lifted it (`unpause`). Loop-thread state, unlike `State.paused`, which the consumer clears
    /// as it takes the buffer: the stall sweep must not see the transfer unpaused before curl does.
    private var pausedForConsumer = false
    /// Body bytes since `lastActivity` without a line end (see `progressBytes`).
    private var bytesSinceProgress = 0
    private var headerBytes = 0
    /// Why this side aborted the transfer (curl then reports only a write error).
    private var abortReason: TransportError?
    private var startedAt: UInt64 = 0
    /// Where the body goes once `attach` ran (instead of `state.buffer`).
    private var sink: (any BodySink)?
    /// The sink a 2xx response's body goes to from its first byte (`arm`).
    private var armedSink: (any BodySink)?
    private var headSent = false

    struct State {
        var head: CheckedContinuation<HTTPResponseHead, any Error>?
        var deliveredHead: HTTPResponseHead?
        var buffer: [UInt8] = []
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var end: Result<Void, any Error>?
        var paused = false

        /// Hands over what is buffered and lifts the pause it may have caused.
        mutating func takeBuffer() -> (bytes: [UInt8], wasPaused: Bool) {
            var out: [UInt8] = []
            swap(&out, &buffer)
            defer { paused = false }
            return (out, paused)
        }
    }
    let state = Mutex(State())
    let bytesReceived = Atomic<Int>(0)

    init(request: HTTPRequest, loop: CurlEventLoop) {
        self.request = request
        self.loop = loop
        self.origin = HTTPRequest.origin(of: request.url)
    }

    /// The easy handle, which writes into `errorBuffer`, was released when the loop removed the
    /// transfer (the loop retains every transfer whose handle is in the multi).
    deinit { errorBuffer.deallocate() }

    // MARK: loop thread

    /// Creates and configures the easy handle; nil (the transfer then has ended with the error)
    /// when curl refuses it or one of its options.
    func makeEasyHandle() -> UnsafeMutableRawPointer? {
        guard let easy = curl_easy_init() else {
            end(.failure(TransportError(kind: .other, message: "curl_easy_init failed", origin: origin)))
            return nil
        }
        self.easy = easy
        do throws(TransportError) {
            try configure(easy)
        } catch {
            releaseEasyHandle()
            end(.failure(TransportError(kind: error.kind, curlCode: error.curlCode, message: error.message, origin: origin)))
            return nil
        }
        return easy
    }

    private func configure(_ easy: UnsafeMutableRawPointer) throws(TransportError) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        try set(easy, CURLOPT_URL, request.url)
        try set(easy, CURLOPT_NOSIGNAL, 1)
        try set(easy, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        // HTTP/2 only over TLS: Debian 12's libcurl breaks on reused cleartext HTTP/2 connections.
        // A libcurl built without HTTP/2 refuses the option and speaks HTTP/1.1, as it should.
        _ = try? set(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        // Wait for a connection that may multiplex (HTTP/2) rather than open a new one; over
        // cleartext HTTP/1.1 that would serialise requests behind the first response.
        if request.url.lowercased().hasPrefix("https:") { try set(easy, CURLOPT_PIPEWAIT, 1) }
        try set(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        // Stalls are detected by the loop's own watchdog (`lastActivity`, `progressBytes`), not
        // CURLOPT_LOW_SPEED_*: curl averages speed over ~5 s, so its check fires seconds late.
        // The total `timeout` is the same watchdog's (from `startedAt`), not CURLOPT_TIMEOUT_MS,
        // whose error curl reports as the connect timeout's.
        lastActivity = DispatchTime.now().uptimeNanoseconds
        startedAt = lastActivity
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
        try set(easy, CURLOPT_BUFFERSIZE, 16 * 1024)
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
        headerList = list
        try set(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        // curl holds the body (COPYPOSTFIELDS) and the header lines now; with thousands of
        // streams open, a second copy of each request is megabytes.
        request.body = []
        request.headers = HeaderFields()
        try set(easy, CURLOPT_WRITEDATA, me)
        try check(choreo_easy_setopt_write_callback(easy) { ptr, size, count, userdata in
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return t.received(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }, "curl_easy_setopt", option: CURLOPT_WRITEFUNCTION.rawValue)
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
        if let easy { curl_easy_cleanup(easy) }
        easy = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    /// curl's message for `code`, with the system's reason when curl's own is generic (curl 7.88
    /// says "Couldn't connect to server" for a refused connection; the outage line wants "refused").
    /// Called on the loop thread while the handle lives.
    func errorMessage(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        var message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        var osErrno = 0
        // Best effort: without the errno the message is only less specific.
        if let easy, (try? check(choreo_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno), "curl_easy_getinfo")) != nil, osErrno != 0 {
            let reason = String(cString: strerror(Int32(osErrno)))
            if !message.lowercased().contains(reason.lowercased()) { message += " (\(reason))" }
        }
        return message
    }

    /// One header line from curl, parsed as bytes (every response has a dozen; Foundation's
    /// trimming was a tenth of a short job's CPU). False aborts the transfer (the header cap).
    private func headerLine(_ raw: UnsafeRawBufferPointer) -> Bool {
        lastActivity = DispatchTime.now().uptimeNanoseconds
        headerBytes += raw.count
        if headerBytes > Self.maxHeaderBytes {
            abortReason = TransportError(kind: .protocolError, message: "the response's header block is larger than \(Self.maxHeaderBytes) bytes",
                                         origin: origin)
            return false
        }
        var end = raw.count
        while end > 0, raw[end - 1] == 0x0A || raw[end - 1] == 0x0D { end -= 1 }
        if end == 0 {
            // End of one header block; 1xx blocks are followed by the real one.
            if status >= 200 { deliverHead() }
            return true
        }
        let line = UnsafeRawBufferPointer(rebasing: raw[..<end])
        if end >= 5 && line[0] == UInt8(ascii: "H") && line[1] == UInt8(ascii: "T") && line[2] == UInt8(ascii: "T")
            && line[3] == UInt8(ascii: "P") && line[4] == UInt8(ascii: "/") {
            connected = true
            let parts = String(decoding: line, as: UTF8.self).split(separator: " ", maxSplits: 2)
            version = parts.first.map(String.init) ?? ""
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = HeaderFields()
            return true
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return true }
        var v = colon + 1, e = end
        while v < e, line[v] == 0x20 || line[v] == 0x09 { v += 1 }
        while e > v, line[e - 1] == 0x20 || line[e - 1] == 0x09 { e -= 1 }
        headers.add(name: UnsafeRawBufferPointer(rebasing: line[..<colon]), value: UnsafeRawBufferPointer(rebasing: line[v..<e]))
        return true
    }

    /// Before the transfer is added to the loop: a 2xx body goes straight to `sink`.
    func arm(_ sink: any BodySink) { armedSink = sink }

    /// Once per transfer (a trailer block or the end of a body may come after the head).
    private func deliverHead() {
        guard !headSent else { return }
        headSent = true
        headers.compact()
        if let armed = armedSink {
            armedSink = nil
            if status >= 200 && status < 300 { sink = armed }
        }
        let head = HTTPResponseHead(status: status, headers: headers, version: version)
        let waiter = state.withLock { s -> CheckedContinuation<HTTPResponseHead, any Error>? in
            s.deliveredHead = head
            defer { s.head = nil }
            return s.head
        }
        waiter?.resume(returning: head)
    }

    /// curl's write callback: hand bytes to a waiting consumer or buffer them, and pause the
    /// transfer when the consumer has fallen `highWaterMark` bytes behind.
    private func received(_ bytes: UnsafeRawBufferPointer) -> Int {
        bytesSinceProgress += bytes.count
        if bytesSinceProgress >= Self.progressBytes || (bytes.baseAddress.map { memchr($0, 0x0A, bytes.count) != nil } ?? false) {
            lastActivity = DispatchTime.now().uptimeNanoseconds
            bytesSinceProgress = 0
        }
        deliverHead()
        if let sink {
            bytesReceived.add(bytes.count, ordering: .relaxed)
            return sink.receive(bytes) ? bytes.count : 0
        }
        enum Action { case resume(CheckedContinuation<[UInt8]?, any Error>, [UInt8]), none, pause }
        let action = state.withLock { s -> Action in
            if let waiter = s.waiter {
                s.waiter = nil
                return .resume(waiter, Array(bytes))
            }
            if s.buffer.count >= Self.highWaterMark {
                s.paused = true
                return .pause
            }
            s.buffer.append(contentsOf: bytes)
            return .none
        }
        switch action {
        case .resume(let waiter, let data):
            bytesReceived.add(bytes.count, ordering: .relaxed)
            waiter.resume(returning: data)
            return bytes.count
        case .none:
            bytesReceived.add(bytes.count, ordering: .relaxed)
            return bytes.count
        case .pause:
            pausedForConsumer = true
            return Int(CURL_WRITEFUNC_PAUSE)
        }
    }

    /// Ends the transfer: `curlCode` 0 is a complete response.
    func finish(curlCode: Int, message: String) {
        let error: (any Error)? = curlCode == 0 ? nil : abortReason ?? classify(curlCode: curlCode, message: message)
        end(error.map { .failure($0) } ?? .success(()))
    }

    func finishCancelled() { end(.failure(CancellationError())) }

    /// Ends the transfer with an error of this side (a curl call refused, see `check`).
    func fail(_ error: TransportError) { end(.failure(error)) }

    /// Loop thread: lifts the pause the consumer caused. curl may call `received` again before
    /// this returns.
    func unpause() throws(TransportError) {
        guard let easy else { return }
        // Before curl_easy_pause, which may deliver bytes and pause again at once.
        pausedForConsumer = false
        lastActivity = DispatchTime.now().uptimeNanoseconds
        bytesSinceProgress = 0
        try check(curl_easy_pause(easy, 0 /* CURLPAUSE_CONT */), "curl_easy_pause")
    }

    /// Why the loop's watchdog must end this transfer now, or nil: its total `timeout` passed
    /// (however steadily it progressed), or it stalled.
    func watchdogFailure(now: UInt64) -> TransportError? {
        if let timeout = request.timeout, now > startedAt, Double(now - startedAt) / 1e9 >= timeout {
            return TransportError(kind: .timedOut, message: "the request took longer than its timeout of \(timeout.formatted2) s "
                                  + "(connecting and the whole response)", origin: origin)
        }
        guard isStalled(now: now) else { return nil }
        return TransportError(kind: .stalled, message: "no progress (a complete line or \(Self.progressBytes) bytes) for \(request.stallTimeout.formatted2) s",
                              origin: origin)
    }

    /// Whether no byte arrived for the stall timeout while the consumer was keeping up (a paused
    /// transfer is waiting for its consumer, not for the server).
    private func isStalled(now: UInt64) -> Bool {
        guard now > lastActivity, Double(now - lastActivity) / 1e9 >= request.stallTimeout else { return false }
        if !connected, let easy {
            // Still connecting (a full accept queue makes TCP retry for seconds): that is the
            // connect timeout's business. Once connected, silence counts from the connection.
            var connectMicros: curl_off_t = 0
            // Unknown counts as not connected yet: the connect timeout still guards it.
            _ = try? check(choreo_easy_getinfo_offset(easy, CURLINFO_CONNECT_TIME_T, &connectMicros), "curl_easy_getinfo")
            if connectMicros == 0 { return false }
            let connectedAt = startedAt + UInt64(connectMicros) * 1000
            if now <= connectedAt || Double(now - connectedAt) / 1e9 < request.stallTimeout { return false }
        }
        return !pausedForConsumer
    }

    private func end(_ result: Result<Void, any Error>) {
        if case .success = result { deliverHead() }
        armedSink = nil
        if let sink {
            self.sink = nil
            sink.finish(result)
        }
        let (head, waiter) = state.withLock { s -> (CheckedContinuation<HTTPResponseHead, any Error>?, CheckedContinuation<[UInt8]?, any Error>?) in
            if s.end == nil { s.end = result }
            let h = s.head
            s.head = nil
            let w = s.buffer.isEmpty ? s.waiter : nil
            if w != nil { s.waiter = nil }
            return (h, w)
        }
        if let head, case .failure(let e) = result { head.resume(throwing: e) }
        if let waiter {
            switch result {
            case .success: waiter.resume(returning: nil)
            case .failure(let e): waiter.resume(throwing: e)
            }
        }
    }

    private func classify(curlCode: Int, message: String) -> TransportError {
        let kind: TransportError.Kind
        switch curlCode {
        case 28:  // CURLE_OPERATION_TIMEDOUT: only the connect timeout is curl's (stalls and `timeout` are ours, see watchdogFailure)
            kind = .connect
        case 5, 6, 7: kind = .connect
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: kind = .tls
        case 18, 52, 55, 56, 92, 16: kind = .connectionLost
        // CURLE_UNSUPPORTED_PROTOCOL is also what a reply curl refuses as HTTP gives ("Unsupported
        // HTTP version", HTTP/0.9): with an http(s) URL that is the server's doing, not ours.
        case 1 where request.url.lowercased().hasPrefix("http"): kind = .protocolError
        case 8, 100: kind = .protocolError  // CURLE_WEIRD_SERVER_REPLY, CURLE_TOO_LARGE
        case 1, 3: kind = .invalidRequest
        default: kind = .other
        }
        return TransportError(kind: kind, curlCode: curlCode, message: message, origin: origin)
    }

    // MARK: consumer side (any thread)

    func awaitHead() async throws -> HTTPResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, any Error>) in
                let ready = state.withLock { s -> Result<HTTPResponseHead, any Error>? in
                    if let head = s.deliveredHead { return .success(head) }
                    if case .failure(let e) = s.end { return .failure(e) }
                    s.head = c
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            loop?.submit(.cancel(self))
        }
    }

    /// The next bytes of the body, `nil` at its end.
    func nextBytes() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8]?, any Error>) in
                enum Ready { case data([UInt8], resume: Bool), end(Result<Void, any Error>), wait }
                let ready = state.withLock { s -> Ready in
                    if !s.buffer.isEmpty {
                        let (out, wasPaused) = s.takeBuffer()
                        return .data(out, resume: wasPaused)
                    }
                    if let end = s.end { return .end(end) }
                    if Task.isCancelled { return .end(.failure(CancellationError())) }
                    s.waiter = c
                    return .wait
                }
                switch ready {
                case .data(let d, let resume):
                    if resume { loop?.submit(.resume(self)) }
                    c.resume(returning: d)
                case .end(.success): c.resume(returning: nil)
                case .end(.failure(let e)): c.resume(throwing: e)
                case .wait: break
                }
            }
        } onCancel: {
            loop?.submit(.cancel(self))
        }
    }

    var isFinished: Bool { state.withLock { $0.end != nil } }

    /// Sends the rest of the body to `sink` on the loop thread, starting with what is buffered.
    func attach(_ sink: any BodySink) { loop?.submit(.attach(self, sink)) }

    /// Loop thread: hands the buffered bytes to `sink`, then routes every later read to it. A
    /// transfer that already ended finishes the sink at once; one the sink refuses is cancelled.
    /// Returns false when the transfer must be removed (the sink refused the buffered bytes).
    func attachOnLoop(_ sink: any BodySink) throws(TransportError) -> Bool {
        let (buffered, wasPaused, end) = state.withLock { s in
            let (out, wasPaused) = s.takeBuffer()
            return (out, wasPaused, s.end)
        }
        let accepted = buffered.isEmpty || buffered.withUnsafeBytes { sink.receive($0) }
        if let end {
            sink.finish(end)
            return true
        }
        self.sink = sink
        if !accepted { return false }
        if wasPaused { try unpause() }
        return true
    }

    func cancel() { loop?.submit(.cancel(self)) }
}
