import Foundation

/// A value behind a plain pthread mutex (`NSLock`), for state that a task creates other tasks
/// under: `ProviderGate` starts its permit take while holding its pace. With `Synchronization`'s
/// `Mutex` (a priority-inheriting futex on Linux), `choreo run --mock --mock-fault-rate 0.15`
/// stopped now and then with "Call to unlock Mutex on a thread which hasn't acquired the lock" in
/// the gate's release build (scripts/demo.sh, 2 runs in 3).
final class PlainLock<Value>: @unchecked Sendable {  // value: only under `lock`
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
