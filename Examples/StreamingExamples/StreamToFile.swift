public import ChoreoAI
import Foundation

/// Guide: "Streaming to File". Each piece goes to the file as it arrives, so a crash leaves
/// everything received so far on disk.
public enum StreamToFile {
    /// Streams an article into `path` (created or truncated); returns the text written.
    public static func run(client: ChoreoClient, output: ExampleOutput, model: String = "gpt-4",
                           path: String = "output.txt") async throws -> String {
        let stream = try await client.chat.completions.create(
            model: model,
            messages: [.user("Write a long article about AI")],
            stream: true
        )

        guard FileManager.default.createFile(atPath: path, contents: nil),
              let file = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? file.close() }  // Python's `with open(...)`

        for try await chunk in stream {
            if let content = chunk.content {
                try file.write(contentsOf: Data(content.utf8))
                output.write(content)
            }
        }

        output.line("\n\nSaved to \(path)")
        return stream.text
    }
}
