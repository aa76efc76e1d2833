public import ChoreoAI

/// Guide: "Streaming with Function Calling". Tool calls arrive in fragments: the first carries the
/// call's id and function name, the next ones pieces of the JSON arguments. `ChunkAccumulator`
/// joins them into complete calls (`stream.completion` does the same for you).
public enum ToolCallStreaming {
    public static let tools: [ChatTool] = [
        .function(
            name: "get_weather",
            description: "Get weather for a location",
            parameters: [
                "type": "object",
                "properties": ["location": ["type": "string"]],
                "required": ["location"],
            ]
        )
    ]

    /// Streams the answer to a weather question; returns the complete tool calls.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async throws -> [ToolCall] {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("What's the weather in NYC?")],
            stream: true,
            tools: tools
        )

        var accumulator = ChunkAccumulator()
        for try await chunk in stream {
            accumulator.add(chunk)
            guard let delta = chunk.choices.first?.delta else { continue }

            if let content = delta.content {
                output.write(content)
            }

            // The first fragment of each call names the function; later ones carry only arguments.
            for name in (delta.toolCalls ?? []).compactMap(\.name) {
                output.line("\n[Function call detected: \(name)]")
            }
        }

        let calls = accumulator.toolCalls  // arguments complete now that the stream has ended
        for call in calls {
            output.line("\(call.function.name)(\(call.function.arguments))")
        }
        return calls
    }
}
