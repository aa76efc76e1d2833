public import ChoreoAI

/// Guide: "Basic Streaming". Ask with `stream: true`, print each piece of text as it arrives.
public enum BasicStreaming {
    /// Streams a short story; returns the text printed.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a short story")],
            stream: true
        )

        var printed = ""
        for try await chunk in stream {
            // The guide's `chunk.choices[0].delta.content`. `first` because a few chunks carry no
            // choice (a usage chunk, Azure's filter results); `chunk.content` says the same.
            if let content = chunk.choices.first?.delta.content {
                output.write(content)
                printed += content
            }
        }
        output.line()  // new line at the end
        return printed
    }
}
