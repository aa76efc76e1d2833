public import ChoreoAI

/// Guide: "Streaming with Buffering" and "Buffer for UI Performance": collect `bufferSize`
/// pieces, then print them in one write (one UI update instead of five).
public enum BufferedOutput {
    /// Returns each flush, in order.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           bufferSize: Int = 5) async throws -> [String] {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a story")],
            stream: true
        )

        var buffer: [String] = []
        var flushes: [String] = []
        func flush() {
            let text = buffer.joined()
            output.write(text)
            flushes.append(text)
            buffer.removeAll()
        }

        for try await chunk in stream {
            if let content = chunk.content, !content.isEmpty {
                buffer.append(content)

                // Flush buffer when full
                if buffer.count >= bufferSize {
                    flush()
                }
            }
        }

        // Flush remaining buffer
        if !buffer.isEmpty {
            flush()
        }
        output.line()
        return flushes
    }
}
