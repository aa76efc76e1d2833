public import ChoreoAI

/// Guide: "Retry on Stream Failure". `RetryPolicy.run` is the loop: it retries what
/// `RequestFailure.classify` calls retryable (429, 5xx, dropped or stalled streams, not 400/401/quota),
/// with exponential backoff and full jitter, honouring the server's `retry-after`.
public enum RetryOnStreamFailure {
    /// Streams the answer to `messages`, starting over after a retryable failure; returns the
    /// answer and the number of attempts it took.
    public static func streamWithRetry(client: ChoreoClient, messages: [ChatMessage], output: ExampleOutput,
                                       model: String = "gpt-4",
                                       policy: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: 1, maxDelay: 8)
    ) async throws -> (text: String, attempts: Int) {
        try await policy.run { attempt in
            do {
                let stream = try await client.chat.completions.create(
                    model: model,
                    messages: messages,
                    stream: true
                )

                for try await chunk in stream {
                    if let content = chunk.content {
                        output.write(content)
                    }
                }

                output.line()
                return (stream.text, attempt)
            } catch {
                let failure = RequestFailure.classify(error)
                let next = failure.retryable && attempt < policy.maxAttempts ? ", retrying" : ""
                output.line("\nAttempt \(attempt) failed (\(failure.kind))\(next): \(error)")
                throw error  // `run` decides whether and when to try again
            }
        }
    }

    /// The guide's call: `stream_with_retry(client, [{"role": "user", "content": "Hello"}])`.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           policy: RetryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: 1, maxDelay: 8)
    ) async throws -> (text: String, attempts: Int) {
        try await streamWithRetry(client: client, messages: [.user("Hello")], output: output, model: model, policy: policy)
    }
}
