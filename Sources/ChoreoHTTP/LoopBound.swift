/// A value that only its curl loop's thread may touch, as NIO's `NIOLoopBound`
/// (`Sources/NIOCore/NIOLoopBound.swift`): every read and write checks the thread, and touching it
/// from any other thread stops the process with a message, instead of racing the loop.
///
/// Unlike `NIOLoopBound`, it may be made off the loop: a transfer is built by the task that sends
/// the request and handed to the loop through its command queue (`CurlEventLoop.submit`), whose
/// lock orders the making before every use on the loop.
///
/// The check, in release builds too: a relaxed load of the loop's thread id and `pthread_self()`
/// (a thread-register read), compared: a few instructions per access, a handful of accesses per
/// network read, none per chunk (BENCHMARKS.md, "Transfer and stream state machines").
struct LoopBound<Value>: @unchecked Sendable {  // @unchecked: every access checks the thread
    private let loop: CurlEventLoop
    private var _value: Value

    init(_ value: Value, loop: CurlEventLoop) {
        self.loop = loop
        self._value = value
    }

    var value: Value {
        _read {  // lent, not copied: a copy of a transfer's loop state retains each of its references
            loop.preconditionInLoop()
            yield _value
        }
        _modify {
            loop.preconditionInLoop()
            yield &_value
        }
    }

    /// `body` with the value, in one access. Each access to a class's stored property (a
    /// transfer's `onLoop`) is checked for exclusivity at run time, ~200 instructions: a path run
    /// on every network read reads and writes its fields here, not one `value` access each.
    mutating func update<Result>(_ body: (inout Value) -> Result) -> Result {
        loop.preconditionInLoop()
        return body(&_value)
    }
}
