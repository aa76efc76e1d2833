#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that one thread at a time reads or changes: the one lock of the codebase.
///
/// Why not `Synchronization.Mutex`: on Linux it records its owner by a thread id that its inlined
/// lock and unlock read from a thread-local variable, and in a release build the Swift 6.3 compiler
/// may compute that variable's address on one thread and use it after the task resumed on another
/// (seen in `ProviderGate.refill`: the address was computed in the partial function that runs on
/// the awaited call's thread, then used after the hop back to the task's executor). The mutex is
/// then taken in another thread's name, and once a second thread waits for it the kernel refuses
/// the unlock: "Call to unlock Mutex on a thread which hasn't acquired the lock" stopped
/// `choreo run` (docs/RELIABILITY.md, "The lock"). A pthread mutex does its bookkeeping inside
/// libc, on the thread that calls it.
///
/// The interface is `Mutex`'s: `withLock`, with the value `inout` for the body's duration. Never
/// hold it across an `await` (the body cannot suspend).
public final class Locked<Value>: @unchecked Sendable {  // value: only under `mutex`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init: \(rc)")
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        lock()
        defer { unlock() }
        return try body(&value)
    }

    @usableFromInline func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock: \(rc)")
    }

    @usableFromInline func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock: \(rc)")
    }
}
