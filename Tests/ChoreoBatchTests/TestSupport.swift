import Foundation
@testable import ChoreoBatch
import ChoreoSQLite

/// A fresh directory under the system temp dir, removed when the value is released.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "choreo-batch-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `lines` joined by newlines (and a final one) and returns the path.
    @discardableResult
    func write(_ name: String, lines: [String]) -> String {
        write(name, text: lines.joined(separator: "\n") + "\n")
    }

    @discardableResult
    func write(_ name: String, text: String) -> String {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(text.utf8))
        return file(name)
    }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) -> String {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(bytes))
        return file(name)
    }

    func read(_ name: String) -> String { (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? "" }

    func database(readOnly: Bool = false) throws -> Database { try Database(path: file("choreo.sqlite"), readOnly: readOnly) }
}

/// A valid OpenAI Batch line.
func batchLine(_ id: String, _ prompt: String = "Hello", model: String = "gpt-4o-mini", extra: String = "") -> String {
    #"{"custom_id":"\#(id)","method":"POST","url":"/v1/chat/completions","body":{"model":"\#(model)","messages":[{"role":"user","content":"\#(prompt)"}]\#(extra)}}"#
}

extension Database {
    func count(_ sql: String, _ args: [SQLValue] = []) throws -> Int { try queryOne(sql, args) { $0.int(0) ?? 0 } ?? -1 }
}
