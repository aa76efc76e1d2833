/// Polls `condition` every 10 ms until it holds, for tests that wait on something happening
/// elsewhere (a server noticing a close, a process writing its log). Throws `TimedOut`, naming
/// `what` and the caller's line, when `timeout` seconds pass first: waiting for the event, never
/// for a fixed time, keeps a test fast on an idle machine and correct on a loaded one.
public func eventually(
    _ what: @autoclosure () -> String, timeout: Double = 30,
    fileID: String = #fileID, line: Int = #line,
    isolation: isolated (any Actor)? = #isolation,
    _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what(), timeout: timeout, place: "\(fileID):\(line)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// `eventually` gave up.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Double
    public let place: String

    public var description: String { "\(place): timed out after \(timeout) s waiting for \(what)" }
}
