import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// Runs `choreo` in `directory` with `input` on stdin; returns its exit status and its output.
private func choreo(_ arguments: [String], input: String? = nil, in directory: URL) async throws -> (Int32, String) {
    let r = try await ChoreoBinary.run(arguments, input: input, workingDirectory: directory, timeout: 60)
    return (r.status, r.output)
}

@Suite("Wire fidelity at the command line")
struct WireCLITests {
    @Test func submitDashReadsTheJobFileFromStdin() async throws {
        let dir = TemporaryDirectory("choreo-wire")
        let lines = (1...3).map { #"{"custom_id":"s\#($0)","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi \#($0)"}]}"# }
        let (status, output) = try await choreo(["submit", "-", "--db", "t.sqlite"], input: lines.joined(separator: "\n") + "\n", in: dir.url)
        #expect(status == 0, "\(output)")
        #expect(output.contains("submitted 3 jobs"))
        let db = try Database(path: dir.url.appendingPathComponent("t.sqlite").path, readOnly: true)
        #expect(try db.queryOne("SELECT source_file FROM batches") { $0.string(0) } == "<stdin>")
        #expect(try db.queryOne("SELECT count(*) FROM jobs") { $0.int(0) } == 3)
    }

    @Test func submitNamesTheLineAndTheNearestParameter() async throws {
        let dir = TemporaryDirectory("choreo-wire")
        var lines = (1...6).map { #"{"custom_id":"s\#($0)","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"# }
        lines.append(#"{"custom_id":"s7","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokenz":5}"#)
        try (lines.joined(separator: "\n") + "\n").write(to: dir.url.appendingPathComponent("jobs.jsonl"), atomically: true, encoding: .utf8)
        let (status, output) = try await choreo(["submit", "jobs.jsonl", "--db", "t.sqlite"], in: dir.url)
        #expect(status == 1)
        #expect(output.contains("line 7, max_tokenz: unknown_parameter: unknown parameter; did you mean max_tokens?"), "\(output)")
        let (allowed, _) = try await choreo(["submit", "jobs.jsonl", "--db", "t.sqlite", "--allow-unknown-params"], in: dir.url)
        #expect(allowed == 0)
    }

    @Test func mockOnATakenPortSaysSo() async throws {
        try await withMockServer { server in
        let dir = TemporaryDirectory("choreo-wire")
        let (status, output) = try await choreo(["mock", "--port", String(server.port)], in: dir.url)
        #expect(status != 0)
        #expect(output.contains("port \(server.port) is in use"), "\(output)")
        #expect(!output.contains("errno"))
    }
    }
}
