public import Foundation

/// A fresh directory under the system's temporary directory, for a test's databases, job files
/// and logs; removed with everything in it when the value is released, so a test keeps it by
/// holding it to its end. The one way tests get scratch space.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    /// `prefix` names the directory (`choreo-test-<UUID>`), which helps when one is left behind.
    public init(_ prefix: String = "choreo-test") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            preconditionFailure("cannot create the test directory \(url.path): \(error)")
        }
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    public var path: String { url.path }

    /// The path of `name` in the directory.
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// A database path in the directory (the file does not exist yet).
    public var databasePath: String { file("choreo.sqlite") }

    /// Writes `lines` joined by newlines (and a final one) and returns the path.
    @discardableResult
    public func write(_ name: String, lines: [String]) -> String {
        write(name, text: lines.joined(separator: "\n") + "\n")
    }

    @discardableResult
    public func write(_ name: String, text: String) -> String {
        write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    public func write(_ name: String, bytes: [UInt8]) -> String {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(bytes))
        return file(name)
    }

    public func read(_ name: String) -> String { (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? "" }
}
