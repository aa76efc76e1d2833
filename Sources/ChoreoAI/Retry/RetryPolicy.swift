/// When and how long to wait before trying again: exponential backoff with full jitter and a cap,
/// honouring the server's own delay when it gives one. Shared by the SDK (`run`) and the batch runner.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in total, the first included.
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    /// A server-requested delay above this is not honoured (the attempt fails instead of sleeping).
    public var maxServerDelay: Double

    public init(maxAttempts: Int = 5, baseDelay: Double = 0.5, maxDelay: Double = 30, maxServerDelay: Double = 120) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxServerDelay = maxServerDelay
    }

    public static let `default` = RetryPolicy()

    /// Seconds to wait before attempt `attempt + 1` after `failure` ended attempt `attempt`
    /// (1-based), or nil when there should be no further attempt.
    public func delay(after attempt: Int, failure: RequestFailure, random: Double = Double.random(in: 0..<1)) -> Double? {
        guard failure.retryable, attempt < maxAttempts else { return nil }
        if let server = failure.retryAfter {
            guard server <= maxServerDelay else { return nil }
            return server + random * min(1, server * 0.1)  // a little jitter so waiters don't return in lockstep
        }
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 20)))
        return random * ceiling  // full jitter
    }

    /// Runs `operation` until it succeeds or this policy gives up; rethrows the last error.
    /// `operation` gets the 1-based attempt number; `onRetry`, when given, hears of each failed
    /// attempt that will be retried, with its classified failure and the wait before the next.
    public func run<T: Sendable>(onRetry: ((_ attempt: Int, _ failure: RequestFailure, _ delay: Double) -> Void)? = nil,
                                 _ operation: (Int) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation(attempt)
            } catch {
                if error is CancellationError { throw error }
                let failure = RequestFailure.classify(error)
                guard let wait = delay(after: attempt, failure: failure) else { throw error }
                onRetry?(attempt, failure, wait)
                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                attempt += 1
            }
        }
    }
}
