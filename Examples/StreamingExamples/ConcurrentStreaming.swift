public import ChoreoAI

/// Guide: "Concurrent Streaming" (`asyncio.gather`). A task group streams every question at once.
///
/// Printing every chunk of three streams to one terminal interleaves them into noise, so each
/// task prints its question and answer together when its stream ends.
public enum ConcurrentStreaming {
    public static let questions = ["What is Python?", "What is JavaScript?", "What is Rust?"]

    /// Streams one question's answer; prints it whole when it is complete.
    public static func streamQuestion(client: ChoreoClient, question: String, output: ExampleOutput,
                                      model: String = "gpt-4") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user(question)],
            stream: true
        )

        var answer = ""
        for try await chunk in stream {
            if let content = chunk.content {
                answer += content
            }
        }
        output.write("\nQ: \(question)\nA: \(answer)\n")
        return answer
    }

    /// Streams all `questions` concurrently; returns the answers in the order of `questions`.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           questions: [String] = questions) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, question) in questions.enumerated() {
                group.addTask {
                    (i, try await streamQuestion(client: client, question: question, output: output, model: model))
                }
            }
            var answers = Array(repeating: "", count: questions.count)
            for try await (i, answer) in group {
                answers[i] = answer
            }
            return answers
        }
    }
}
