public import ChoreoAI

/// Guide: "Stream from Multiple Providers". The model name picks the provider (`claude-*` →
/// Anthropic, `gemini-*` → Gemini, others → OpenAI-compatible); every stream comes back as
/// OpenAI-shaped chunks, so the loop is the same for all three.
public enum MultipleProviders {
    public static let models = ["gpt-4", "claude-3-sonnet-20240229", "gemini-pro"]

    /// Asks each model in turn; returns each model's answer.
    public static func run(client: ChoreoClient, output: ExampleOutput,
                           models: [String] = models) async throws -> [(model: String, answer: String)] {
        let question = "What is machine learning?"
        var answers: [(model: String, answer: String)] = []

        for model in models {
            output.write("\n\(model): ")

            let stream = try await client.chat.completions.create(
                model: model,
                messages: [.user(question)],
                stream: true
            )

            for try await chunk in stream {
                if let content = chunk.content {
                    output.write(content)
                }
            }

            output.line()
            answers.append((model, stream.text))
        }
        return answers
    }
}
