public import ChoreoAI

/// Guide: "Check Finish Reason" and "Monitor Finish Reason". The last chunk of a choice carries
/// `finishReason`, normalised to OpenAI's values whatever the provider; it compares to a string.
public enum CheckFinishReason {
    /// Streams a poem (cut at `maxTokens`, if given); returns the finish reason.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           maxTokens: Int? = nil) async throws -> FinishReason? {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a poem")],
            stream: true,
            maxTokens: maxTokens
        )

        var finished: FinishReason?
        for try await chunk in stream {
            guard let choice = chunk.choices.first else { continue }  // a usage-only chunk
            if let content = choice.delta.content {
                output.write(content)
            }

            if let reason = choice.finishReason {
                output.line("\n[Finished: \(reason)]")
                if reason == "length" {
                    output.line("[Max tokens reached]")
                } else if reason == "stop" {
                    output.line("[Completed]")
                }
                finished = reason
            }
        }
        return finished
    }
}
