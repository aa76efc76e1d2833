import Dispatch
import Foundation
import ChoreoLocking

/// Turns SIGINT, SIGTERM and SIGHUP into cancellation of one task (graceful stop: streams end,
/// partial outputs are flushed, jobs stay retryable). SIGHUP is a terminal that went away (an SSH
/// session dropped): by default it killed the run on the spot, its jobs held until their leases
/// passed and the text since the last flush lost. A second signal, or a stop that outlasts its grace
/// period, aborts: `onAbort` writes what was received and exits the process.
final class SignalTrap: Sendable {
    private struct State {
        var first: Int32?
        /// Set once the task has ended: nothing is aborted any more.
        var done = false
        var aborting = false
    }
    private let state = Locked(State())
    /// Kept alive for the process; written once by `install`, on the calling thread, before any handler runs.
    private nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []

    /// The first signal received, if any.
    var signal: Int32? { state.withLock { $0.first } }

    /// Cancels `task` on the first SIGINT/SIGTERM/SIGHUP (`onFirst` is told which, for a message) and
    /// arms `abort(after: grace, …)` when a grace is given; a second signal aborts at once. The
    /// default `onAbort` exits with the first signal's code.
    func install(cancelling task: Task<some Sendable, some Error>, grace: Double? = nil,
                 onFirst: @escaping @Sendable (Int32) -> Void, onAbort: (@Sendable (String) -> Void)? = nil) {
        let onAbort = onAbort ?? { [self] reason in
            FileHandle.standardError.write("\n\(reason): exiting now\n".data(using: .utf8)!)
            exit(exitCode ?? ExitCodes.interrupted)
        }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                let first = state.withLock { s -> Bool in
                    if s.first == nil { s.first = sig; return true }
                    return false
                }
                if first {
                    onFirst(sig)
                    task.cancel()
                    if let grace {
                        abort(after: grace, reason: "the stop took longer than its grace period (\(Self.seconds(grace)))", onAbort)
                    }
                } else {
                    abort(after: 0, reason: "second \(Self.name(sig))", onAbort)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Runs `onAbort` (once, on a background queue) after `seconds`, unless the task ended first.
    func abort(after seconds: Double, reason: String, _ onAbort: @escaping @Sendable (String) -> Void) {
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0, seconds)) { [self] in
            let go = state.withLock { s -> Bool in
                guard !s.done && !s.aborting else { return false }
                s.aborting = true
                return true
            }
            if go { onAbort(reason) }
        }
    }

    /// The task ended by itself: no abort from now on. Returns false when an abort already
    /// began (it exits the process; the caller must not race it).
    func disarm() -> Bool {
        state.withLock { s in
            s.done = true
            return !s.aborting
        }
    }

    /// The exit code for the signal received (130 SIGINT, 143 SIGTERM, 129 SIGHUP), nil when none.
    var exitCode: Int32? {
        guard let s = signal else { return nil }
        switch s {
        case SIGTERM: return ExitCodes.terminated
        case SIGHUP: return ExitCodes.hangUp
        default: return ExitCodes.interrupted
        }
    }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "SIGINT"
        }
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }
}
