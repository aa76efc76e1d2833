public import ChoreoAI

/// Guide: "Always Check for Content" and "Handle Empty Chunks". Not every chunk carries text:
/// the first may carry only the role, the last only the finish reason, and with `includeUsage`
/// a final chunk carries only token counts and no choice at all.
public enum RoleAndEmptyChunks {
    /// What the stream was made of.
    public struct Tally: Sendable, Equatable {
        public var roles: [Role] = []
        public var textChunks = 0
        /// Chunks with a choice but no text (role-only, finish-only, empty string).
        public var emptyChunks = 0
        /// Chunks with no choice (the usage chunk).
        public var choicelessChunks = 0
        public var usage: CompletionUsage?
        public var text = ""
    }

    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> Tally {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Hello")],
            stream: true,
            includeUsage: true  // adds the choiceless usage chunk at the end
        )

        var tally = Tally()
        for try await chunk in stream {
            // `chunk.choices[0]` would trap on the usage chunk: take `first`.
            guard let delta = chunk.choices.first?.delta else {
                tally.choicelessChunks += 1
                tally.usage = chunk.usage
                continue
            }

            // First chunk may only have role
            if let role = delta.role {
                output.line("[Role: \(role)]")
                tally.roles.append(role)
            }

            // Content chunks (an empty string is no content either)
            if let content = delta.content, !content.isEmpty {
                output.write(content)
                tally.text += content
                tally.textChunks += 1
            } else {
                tally.emptyChunks += 1
            }
        }
        if let usage = tally.usage {
            output.line("\n[Usage: \(usage.promptTokens) prompt + \(usage.completionTokens) completion tokens]")
        }
        return tally
    }
}
