public import ChoreoAI

/// Guide: "Partial Response Recovery". No need to accumulate by hand: a `StreamError` carries
/// everything that arrived before the failure (`error.partial`, `error.partialText`).
public enum PartialResponseRecovery {
    /// Streams a long story; returns the whole text, or the part received before an interruption.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a long story")],
            stream: true
        )

        do {
            for try await chunk in stream {
                if let content = chunk.content {
                    output.write(content)
                }
            }
            output.line()
            return stream.text
        } catch let error as StreamError {
            let partialResponse = error.partialText
            output.line("\n[Stream interrupted: \(error.message)]")
            output.line("\nPartial response (\(partialResponse.count) chars):")
            output.line(partialResponse)
            return partialResponse
        }
    }
}
