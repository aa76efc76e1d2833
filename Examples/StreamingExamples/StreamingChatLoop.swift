public import ChoreoAI

/// Guide: "Streaming Chat Loop". Keeps the conversation: every request sends all previous turns,
/// and each streamed answer is appended as an assistant message.
public enum StreamingChatLoop {
    /// Chats until `readLine` returns "quit" or nil (end of input); returns the conversation.
    /// `readLine` is `{ Swift.readLine() }` on a terminal, a list of lines in a test.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           readLine: () -> String?) async throws -> [ChatMessage] {
        var messages: [ChatMessage] = []

        output.line("Streaming Chat (type 'quit' to exit)")
        output.line(String(repeating: "-", count: 50))

        while true {
            output.write("\nYou: ")
            guard let userInput = readLine() else {
                output.line()  // end of input
                break
            }
            if userInput.lowercased() == "quit" {
                break
            }

            messages.append(.user(userInput))

            output.write("Assistant: ")

            let stream = try await client.chat.completions.create(
                model: model,
                messages: messages,
                stream: true
            )

            var assistantMessage = ""
            for try await chunk in stream {
                if let content = chunk.content {
                    assistantMessage += content
                    output.write(content)
                }
            }

            output.line()
            messages.append(.assistant(assistantMessage))
        }
        return messages
    }
}
