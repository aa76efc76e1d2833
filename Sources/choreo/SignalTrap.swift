import Dispatch
import Foundation
import Synchronization

/// Turns SIGINT and SIGTERM into cancellation of one task (graceful stop: streams end, partial
/// outputs are flushed, jobs stay retryable). A second SIGINT exits at once.
final class SignalTrap: Sendable {
    private let received = Mutex<Int32?>(nil)
    /// Kept alive for the process; written once by `install`, on the calling thread, before any handler runs.
    private nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []

    /// The first signal received, if any.
    var signal: Int32? { received.withLock { $0 } }

    /// Cancels `task` on the first SIGINT/SIGTERM; `onFirst` is told which, for a message.
    func install(cancelling task: Task<some Sendable, some Error>, onFirst: @escaping @Sendable (Int32) -> Void) {
        for sig in [SIGINT, SIGTERM] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                let first = received.withLock { r -> Bool in
                    if r == nil { r = sig; return true }
                    return false
                }
                if first {
                    onFirst(sig)
                    task.cancel()
                } else if sig == SIGINT {
                    FileHandle.standardError.write("\nsecond interrupt: exiting now\n".data(using: .utf8)!)
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// The exit code for the signal received (130 SIGINT, 143 SIGTERM), nil when none.
    var exitCode: Int32? {
        guard let s = signal else { return nil }
        return s == SIGTERM ? ExitCodes.terminated : ExitCodes.interrupted
    }
}
