internal import CCurl
internal import CCurlShim
internal import CChoreoSystem
import Foundation
import ChoreoLocking
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libcurl multi handle driven by one dedicated thread through curl's socket interface
/// (`curl_multi_socket_action` + epoll + curl's timer), which scales to thousands of streams.
///
/// Threading contract:
/// - The loop thread owns the multi handle, every easy handle while it is in the multi, the
///   epoll set and `active`. Nothing else touches them.
/// - Everything that enters the loop goes through `commands` (a locked queue) followed by a
///   write to `wakeFD` (an eventfd in the epoll set).
/// - Everything that leaves it goes through a transfer's state machine (`CurlTransfer.StateMachine`,
///   locked) and the continuation stored there.
/// - The transfer state only the loop touches is `LoopBound`: touched from another thread, the
///   process stops (`preconditionInLoop`) rather than racing the loop.
///
/// Retain contract (the only `Unmanaged` uses in the project):
/// - `active` retains each `CurlTransfer` from `add` until the easy handle is removed; curl's
///   `WRITEDATA`/`HEADERDATA` hold it unretained, valid because curl calls back only while the
///   handle is in the multi.
/// - curl's `SOCKETDATA`/`TIMERDATA` hold the loop unretained; the loop lives for the process
///   (`CurlTransport.shared`) and the thread holds a strong reference to it.
/// - A transfer holds its body's sink until it ends. The transfer's owner is its consumer's
///   `HTTPBody` (`TransferOwner`: dropped before the end, it cancels the transfer); a sink holds a
///   `TransferHandle`, never the body, or the transfer would own itself through its sink and a
///   dropped stream would run to its end (issue 14).
final class CurlEventLoop: @unchecked Sendable {
    enum Command {
        case add(CurlTransfer)
        case cancel(CurlTransfer)
        case resume(CurlTransfer)
        case answerComplete(CurlTransfer)
        case attach(CurlTransfer, any BodySink)
        case limitConnections(Int)
    }

    private let multi: UnsafeMutableRawPointer
    private let epollFD: Int32
    private let wakeFD: Int32
    private let commands = Locked<[Command]>([])
    /// The loop thread's `pthread_self()`, stored once when it starts running (0 before): what
    /// `preconditionInLoop` compares with.
    private let loopThread = Atomic<UInt>(0)
    // Loop-thread state.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var watched: Set<Int32> = []
    /// The most transfers the multi has held at once: the connection cache's size (`noteActiveCount`).
    private var peakActive = 0
    /// The most connections open at once, busy and idle (`CURLMOPT_MAX_TOTAL_CONNECTIONS`): each
    /// is an open file, and past the process's limit a new one cannot be made ("could not
    /// connect", taken for an outage) nor can SQLite open its files. At it, curl closes the
    /// oldest idle connection (to any host) for a new one, or holds the transfer until one frees.
    /// By default the process's open-files limit less a reserve; `limitConnections` lowers it.
    private var connectionLimit = CurlEventLoop.defaultConnectionLimit

    /// The soft limit on open files when the loop starts, less what the rest of the process holds.
    static var defaultConnectionLimit: Int {
        let limit = Int(choreo_raise_open_files_limit(0))
        return limit > 0 ? max(8, limit - Int(CHOREO_RESERVED_OPEN_FILES)) : 1 << 20
    }
    /// Per HTTPS origin, the transfers handed to curl and not yet sent on a connection (waiting
    /// for one to be made, or in curl's own queue). libcurl 7.88 opens a new connection for every
    /// transfer that finds the origin's HTTP/2 connections full, and does not see the ones still
    /// being made, so a burst of transfers past a full connection (the transfers curl held for
    /// the first connection's ALPN, released together) opened a connection each: 2,000 streams
    /// to a server allowing 1,000 a connection took 1,001 connections. At most `maxUnsent` are
    /// in curl unsent; the rest wait in `held` (no easy handle yet) and go in as those are sent.
    private var unsent: [String: Int] = [:]
    private var held: [String: HeldTransfers] = [:]
    /// A transfer was sent or left unsent: `held` may admit more at the iteration's end.
    private var windowOpened = false
    static let maxUnsent = 16
    private var timerDeadline: UInt64?  // monotonic ns
    private var nextWatchdogSweep: UInt64 = 0
    private static let watchdogSweepInterval: UInt64 = 250_000_000

    init() {
        multi = curl_multi_init()
        epollFD = choreo_epoll_create()
        wakeFD = choreo_eventfd()
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll/eventfd unavailable")
        choreo_epoll_ctl(epollFD, Self.add, wakeFD, CHOREO_POLL_IN)

        let me = Unmanaged.passUnretained(self).toOpaque()
        Self.expect(choreo_multi_setopt_socket_callback(multi) { easy, fd, what, userp, _ in
            Unmanaged<CurlEventLoop>.fromOpaque(userp!).takeUnretainedValue().watch(fd: fd, what: what)
            return 0
        }, "curl_multi_setopt")
        Self.expect(choreo_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me), "curl_multi_setopt")
        Self.expect(choreo_multi_setopt_timer_callback(multi) { _, timeoutMs, userp in
            Unmanaged<CurlEventLoop>.fromOpaque(userp!).takeUnretainedValue().setTimer(timeoutMs)
            return 0
        }, "curl_multi_setopt")
        Self.expect(choreo_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me), "curl_multi_setopt")
        // Multiplex HTTP/2 streams over one TLS connection where the server offers it.
        Self.expect(choreo_multi_setopt_long(multi, CURLMOPT_PIPELINING, 2 /* CURLPIPE_MULTIPLEX */), "curl_multi_setopt")
        Self.expect(choreo_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, connectionLimit), "curl_multi_setopt")
        // Streams per connection: the server's SETTINGS_MAX_CONCURRENT_STREAMS governs (nginx 128,
        // most CDNs 100–256); 1000 only keeps curl's own default (100) from splitting a connection
        // the server lets carry more. Best effort: a libcurl older than 7.67 lacks the option.
        _ = try? check(choreo_multi_setopt_long(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000), "curl_multi_setopt")
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "choreo-curl"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Hands a command to the loop thread. Callable from any thread.
    func submit(_ command: Command) {
        commands.withLock { $0.append(command) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: loop thread

    private static let add: Int32 = 1, del: Int32 = 2, mod: Int32 = 3

    /// Whether the caller runs on this loop's thread.
    var isLoopThread: Bool { loopThread.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// Stops the process unless the caller runs on this loop's thread: state bound to the loop
    /// (`LoopBound`) touched from anywhere else is a bug that would race the loop.
    @inline(__always)
    func preconditionInLoop(file: StaticString = #fileID, line: UInt = #line) {
        if _slowPath(loopThread.load(ordering: .relaxed) != UInt(pthread_self())) { offLoop(file: file, line: line) }
    }

    @inline(never)
    private func offLoop(file: StaticString, line: UInt) -> Never {
        let owner = loopThread.load(ordering: .relaxed)
        preconditionFailure("curl transfer state touched off its loop thread (thread \(UInt(pthread_self())); the loop "
                            + (owner == 0 ? "has not started" : "is thread \(owner), \"choreo-curl\"")
                            + "): only the loop may touch a transfer's easy handle and curl-side state", file: file, line: line)
    }

    private func run() {
        loopThread.store(UInt(pthread_self()), ordering: .relaxed)
        var fds = [Int32](repeating: 0, count: 512)
        var masks = [Int32](repeating: 0, count: 512)
        var running: Int32 = 0
        while true {
            var timeout: Int32 = -1
            var wake = timerDeadline
            if !active.isEmpty { wake = min(wake ?? .max, nextWatchdogSweep) }
            if windowOpened && !held.isEmpty { wake = 0 }
            if let wake {
                let now = DispatchTime.now().uptimeNanoseconds
                timeout = wake <= now ? 0 : Int32(min((wake - now + 999_999) / 1_000_000, 60_000))
            }
            let n = choreo_epoll_wait(epollFD, &fds, &masks, 512, timeout)
            if n < 0 && errno != EINTR { fatalError("epoll_wait failed: \(errno)") }
            if n > 0 {
                for k in 0..<Int(n) {
                    let fd = fds[k]
                    if fd == wakeFD {
                        var value: UInt64 = 0
                        _ = read(wakeFD, &value, 8)
                        drainCommands()
                        continue
                    }
                    var flags: Int32 = 0
                    let m = masks[k]
                    if m & CHOREO_POLL_IN != 0 { flags |= CURL_CSELECT_IN }
                    if m & CHOREO_POLL_OUT != 0 { flags |= CURL_CSELECT_OUT }
                    if m & CHOREO_POLL_ERR != 0 { flags |= CURL_CSELECT_ERR }
                    socketAction(fd, flags, &running)
                }
            }
            if let deadline = timerDeadline, deadline <= DispatchTime.now().uptimeNanoseconds {
                timerDeadline = nil
                socketAction(-1 /* CURL_SOCKET_TIMEOUT */, 0, &running)
            }
            collectFinished()
            sweepWatchdog()
            if windowOpened { admitHeld() }
        }
    }

    /// A transfer to `origin` left the window: curl sent its request (`CURLOPT_PREREQFUNCTION`,
    /// inside a curl call, so the held are admitted after it) or it left the multi unsent.
    func sent(to origin: String) {
        unsent[origin, default: 1] -= 1
        windowOpened = true
    }

    /// Hands curl the held transfers their origins' windows have room for.
    private func admitHeld() {
        windowOpened = false
        var added = false
        for origin in Array(held.keys) {
            while unsent[origin, default: 0] < Self.maxUnsent, let t = held[origin]?.next() {
                t.isHeld = false
                added = addToMulti(t, origin: origin) || added
            }
            if held[origin]?.isEmpty == true { held[origin] = nil }
        }
        // An added transfer may need curl to act now.
        if added {
            var running: Int32 = 0
            socketAction(-1, 0, &running)
        }
    }

    /// Creates `t`'s easy handle and adds it to the multi, counted in `origin`'s window (nil: not
    /// an HTTPS origin, never held). False when it ended instead (curl refused it).
    private func addToMulti(_ t: CurlTransfer, origin: String?) -> Bool {
        guard let easy = t.makeEasyHandle() else { return false }
        do throws(TransportError) {
            try check(curl_multi_add_handle(multi, easy), "curl_multi_add_handle")
            active[easy] = t
            if let origin {
                t.unsentOrigin = origin
                unsent[origin, default: 0] += 1
            }
            if active.count > peakActive { growConnectionCache(to: active.count) }
            return true
        } catch {
            t.releaseEasyHandle()
            t.end(early: .failure(error))
            return false
        }
    }

    /// Ends transfers that made no progress for their stall timeout or passed their total
    /// `timeout` (checked every 250 ms).
    private func sweepWatchdog() {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now >= nextWatchdogSweep else { return }
        nextWatchdogSweep = now + Self.watchdogSweepInterval
        for t in active.values {
            if let verdict = t.watchdog(now: now) { end(t, verdict) }
        }
    }

    private func drainCommands() {
        let pending = commands.withLock { q -> [Command] in
            let all = q
            q.removeAll(keepingCapacity: true)
            return all
        }
        for command in pending {
            switch command {
            case .add(let t):
                // Over cleartext HTTP each transfer has a connection of its own (h2c stays off):
                // nothing to wait for.
                guard let origin = t.httpsOrigin else {
                    _ = addToMulti(t, origin: nil)
                    continue
                }
                if unsent[origin, default: 0] < Self.maxUnsent && held[origin] == nil {
                    _ = addToMulti(t, origin: origin)
                } else {
                    t.isHeld = true
                    held[origin, default: HeldTransfers()].append(t)
                }
            case .cancel(let t):
                cancel(t)
            case .resume(let t):
                do throws(TransportError) { try t.resume() } catch { end(t, .failure(error)) }
            case .answerComplete(let t):
                t.answerIsCompleteOnLoop()
            case .attach(let t, let sink):
                do throws(TransportError) {
                    if !(try t.attachOnLoop(sink)) { cancel(t) }
                } catch {
                    end(t, .failure(error))
                }
            case .limitConnections(let count):
                connectionLimit = max(1, count)
                Self.expect(choreo_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, connectionLimit), "curl_multi_setopt")
                growConnectionCache(to: peakActive)
            }
        }
        // A resumed or added transfer may need curl to act now.
        var running: Int32 = 0
        socketAction(-1, 0, &running)
    }

    private func collectFinished() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle, let t = active[easy] else { continue }
            let code = msg.pointee.data.result
            // The message reads the handle (its OS errno), so before the handle is released.
            let message = code == CURLE_OK ? "" : t.errorMessage(code)
            remove(easy, t)
            t.finish(curlCode: Int(code.rawValue), message: message)
        }
    }

    /// `curl_multi_socket_action`, which fails only when memory runs out or curl's state broke:
    /// then no transfer can be trusted to progress, so each ends with the error (the callers
    /// retry) instead of hanging.
    private func socketAction(_ fd: Int32, _ flags: Int32, _ running: inout Int32) {
        do throws(TransportError) {
            try check(curl_multi_socket_action(multi, fd, flags, &running), "curl_multi_socket_action")
        } catch {
            for (easy, t) in active {
                remove(easy, t)
                t.end(early: .failure(error))
            }
        }
    }

    /// Removes a transfer that is still in the multi and ends it from this side: with an error,
    /// or as complete (its answer was whole and only the body's framing did not come).
    private func end(_ t: CurlTransfer, _ result: Result<Void, TransportError>) {
        guard let easy = t.easy, active[easy] != nil else { return }
        remove(easy, t)
        t.end(early: result)
    }

    /// A multi call that fails only on a bug (a handle this loop does not own, an option this
    /// libcurl has had for years) traps with the call's name, as NIO preconditions on errnos
    /// that can only mean a bug.
    private static func expect(_ code: CURLMcode, _ function: StaticString) {
        do { try check(code, function) } catch { preconditionFailure("\(error)") }
    }

    /// Sizes curl's connection cache by the most transfers ever in flight. By default curl keeps
    /// 4 × the transfers in the multi *now* and closes the oldest idle connection past it, so a
    /// runner whose in-flight count dips between jobs (a claim, a group commit) closed connections
    /// it reopened a moment later: a TCP connect each, and over HTTPS a TLS handshake (2,000 jobs at
    /// C=64 over HTTP/1.1: 266 connections in plain HTTP, 191 over TLS; 64 with this). Idle
    /// connections still close after CURLOPT_MAXAGE_CONN (118 s) or when the server closes them.
    private func growConnectionCache(to count: Int) {
        peakActive = count
        Self.expect(choreo_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, min(max(count, 4), connectionLimit)), "curl_multi_setopt")
    }

    /// Removes a transfer that is still in the multi (or held for its origin's window) and ends
    /// it as cancelled.
    private func cancel(_ t: CurlTransfer) {
        if t.isHeld {
            // Left in the queue, skipped when its turn comes (`HeldTransfers.next`).
            t.isHeld = false
            t.finishCancelled()
            return
        }
        guard let easy = t.easy, active[easy] != nil else { return }
        remove(easy, t)
        t.finishCancelled()
    }

    private func remove(_ easy: UnsafeMutableRawPointer, _ t: CurlTransfer) {
        Self.expect(curl_multi_remove_handle(multi, easy), "curl_multi_remove_handle")
        active[easy] = nil
        if let origin = t.unsentOrigin {  // ended before curl sent it
            t.unsentOrigin = nil
            sent(to: origin)
        }
        t.releaseEasyHandle()
    }

    private func watch(fd: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watched.remove(fd) != nil { choreo_epoll_ctl(epollFD, Self.del, fd, 0) }
            return
        }
        var mask: Int32 = 0
        if what & CURL_POLL_IN != 0 { mask |= CHOREO_POLL_IN }
        if what & CURL_POLL_OUT != 0 { mask |= CHOREO_POLL_OUT }
        if watched.contains(fd) {
            // A socket curl closed without a REMOVE leaves the epoll set by itself; its number may
            // come back for a new socket, which then needs ADD.
            if choreo_epoll_ctl(epollFD, Self.mod, fd, mask) != 0 && errno == ENOENT {
                choreo_epoll_ctl(epollFD, Self.add, fd, mask)
            }
        } else {
            watched.insert(fd)
            if choreo_epoll_ctl(epollFD, Self.add, fd, mask) != 0 && errno == EEXIST {
                choreo_epoll_ctl(epollFD, Self.mod, fd, mask)
            }
        }
    }

    private func setTimer(_ timeoutMs: Int) {
        if timeoutMs < 0 {
            timerDeadline = nil
        } else {
            timerDeadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000
        }
    }
}

/// The transfers waiting for their origin's window, first in first out. A cancelled one stays
/// until its turn and is skipped then (it is no longer `isHeld`).
struct HeldTransfers {
    private var items: [CurlTransfer] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ t: CurlTransfer) { items.append(t) }

    /// The next transfer still held, nil when none is left.
    mutating func next() -> CurlTransfer? {
        while head < items.count {
            let t = items[head]
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            if t.isHeld { return t }
        }
        return nil
    }
}
