public import ChoreoAI

/// Guide: "Accumulate Full Response". Print as it arrives and keep the whole answer.
public enum AccumulateFullResponse {
    /// Streams an explanation; returns the full response.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Explain Python")],
            stream: true
        )

        var fullResponse = ""
        for try await chunk in stream {
            if let content = chunk.content {
                fullResponse += content
                output.write(content)
            }
        }
        // `stream.text` holds the same string: the stream accumulates as it goes.
        // Python's len() counts code points; Swift's `count` counts characters (an emoji is one).
        output.line("\n\nFull response length: \(fullResponse.unicodeScalars.count)")
        return fullResponse
    }
}
