import Foundation
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

extension TemporaryDirectory {
    func database(readOnly: Bool = false) throws -> Database { try Database(path: databasePath, readOnly: readOnly) }
}

/// A valid OpenAI Batch line.
func batchLine(_ id: String, _ prompt: String = "Hello", model: String = "gpt-4o-mini", extra: String = "") -> String {
    #"{"custom_id":"\#(id)","method":"POST","url":"/v1/chat/completions","body":{"model":"\#(model)","messages":[{"role":"user","content":"\#(prompt)"}]\#(extra)}}"#
}

extension Database {
    func count(_ sql: String, _ args: [SQLValue] = []) throws -> Int { try queryOne(sql, args) { $0.int(0) ?? 0 } ?? -1 }
}
