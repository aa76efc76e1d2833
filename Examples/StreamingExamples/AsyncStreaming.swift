public import ChoreoAI

/// Guide: "Basic Async Streaming" and "Synchronous Streaming / Simple Example". Swift has one
/// client: `create` is `async` and the stream is an `AsyncSequence`, so `for try await` is both
/// the guide's `for chunk in stream` and its `async for chunk in stream`.
public enum AsyncStreaming {
    /// Prints "Assistant: " then the answer as it streams; returns the answer.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           prompt: String = "Tell me a joke") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user(prompt)],
            stream: true
        )

        output.write("Assistant: ")
        for try await chunk in stream {
            if let content = chunk.content {
                output.write(content)
            }
        }
        output.line()
        return stream.text  // the stream keeps what it delivered
    }
}
