import Foundation
import ChoreoLocking

/// Where an example prints. `print(x, end: "", flush: true)` in the guide is `output.write(x)`;
/// `print(x)` is `output.line(x)`.
///
/// `.standardOutput` writes each piece at once (unbuffered, like `flush=True`) and also keeps it;
/// `.capture()` only keeps it, so a test can compare what would have been printed.
/// Safe to share between concurrent tasks: each write is appended whole.
public final class ExampleOutput: Sendable {
    private let echo: Bool
    private let pieces = Locked<[String]>([])

    public init(echo: Bool) { self.echo = echo }

    /// Prints to the terminal as it goes.
    public static var standardOutput: ExampleOutput { ExampleOutput(echo: true) }

    /// Keeps everything for a test to read.
    public static func capture() -> ExampleOutput { ExampleOutput(echo: false) }

    /// Prints `text` as is, now (no newline added).
    public func write(_ text: String) {
        guard !text.isEmpty else { return }
        pieces.withLock { $0.append(text) }
        // `write(contentsOf:)` throws on a closed pipe (`| head`) where `write(_:)` would trap.
        if echo { try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8)) }
    }

    /// Prints `text` and a newline.
    public func line(_ text: String = "") { write(text + "\n") }

    /// Everything printed so far.
    public var text: String { pieces.withLock { $0.joined() } }

    /// Each `write` so far, in order (to see how output was batched).
    public var writes: [String] { pieces.withLock { $0 } }
}
