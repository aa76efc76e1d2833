public import ChoreoAI

/// Guide: "Real-time Translation". A function that streams one translation.
public enum RealTimeTranslation {
    /// Streams the translation of `text` into `targetLanguage`; returns it.
    public static func translate(_ text: String, to targetLanguage: String, client: ChoreoClient, output: ExampleOutput,
                                 model: String = "gpt-4") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Translate to \(targetLanguage): \(text)")],
            stream: true
        )

        output.write("Translation (\(targetLanguage)): ")

        for try await chunk in stream {
            if let content = chunk.content {
                output.write(content)
            }
        }

        output.line()
        return stream.text
    }

    /// The guide's use: Spanish, then French.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> [String] {
        [
            try await translate("Hello, how are you?", to: "Spanish", client: client, output: output, model: model),
            try await translate("Hello, how are you?", to: "French", client: client, output: output, model: model),
        ]
    }
}
