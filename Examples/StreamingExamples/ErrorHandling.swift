public import ChoreoAI

/// Guide: "Basic Error Handling". Errors are typed, so a caller can tell them apart:
/// `APIError` (an HTTP error status, before any chunk: 401, 429, 500…), `StreamError` (the stream
/// started, then broke; it carries what arrived), `TransportError` (no connection at all).
public enum ErrorHandling {
    /// Streams a greeting; returns the error that stopped it, or nil when it completed.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4") async -> (any Error)? {
        do {
            let stream = try await client.chat.completions.create(
                model: model,
                messages: [.user("Hello")],
                stream: true
            )

            for try await chunk in stream {
                if let content = chunk.content {
                    output.write(content)
                }
            }

            output.line()
            return nil
        } catch let error as APIError {
            output.line("\nAPI error (HTTP \(error.status)): \(error.message)")
            return error
        } catch let error as StreamError {
            output.line("\nStreaming error: \(error.message) after \(error.partialText.count) characters")
            return error
        } catch {
            output.line("\nStreaming error: \(error)")
            return error
        }
    }
}
