public import ChoreoAI

/// Guide: "Close Streams Properly". A stream that is read to the end closes itself. Leaving the
/// loop early (`break`, `return`, a thrown error, a cancelled task) cancels the request and frees
/// its connection at once: no `finally`, no `close()`.
public enum EarlyClose {
    /// Prints the first `maxChunks` pieces of text and stops; returns what was printed.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           maxChunks: Int = 5) async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a long story")],
            stream: true
        )

        var received = 0
        var printed = ""
        for try await chunk in stream {
            if let content = chunk.content, !content.isEmpty {
                output.write(content)
                printed += content
                received += 1
            }
            if received == maxChunks {
                break  // the request is cancelled here; the server sees the connection close
            }
        }
        output.line("\n[Stopped after \(received) chunks]")
        return printed
    }
}
