public import ChoreoAI

/// Guide: "Streaming with Progress Indicator" and "Provide User Feedback": dots while waiting,
/// then the answer, then how many chunks carried text.
public enum ProgressIndicator {
    /// Returns the number of chunks that carried text.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           dotInterval: Duration = .milliseconds(300)) async throws -> Int {
        // Show loading indicator
        output.write("Generating response")
        for _ in 0..<3 {
            output.write(".")
            try await Task.sleep(for: dotInterval)
        }
        output.line("\n")

        // Stream response
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Explain AI")],
            stream: true
        )

        var chunkCount = 0
        for try await chunk in stream {
            if let content = chunk.content, !content.isEmpty {
                output.write(content)
                chunkCount += 1
            }
        }

        output.line("\n[Received \(chunkCount) chunks]")
        return chunkCount
    }
}
