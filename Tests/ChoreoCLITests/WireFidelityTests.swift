import ChoreoAI
import ChoreoBatch
import ChoreoMock
import Foundation
import Testing

/// The `openai` export of a run against the mock, one line per job, keyed by custom_id.
private func openAIExport(_ fixture: Fixture) throws -> [String: JSONValue] {
    let path = fixture.directory.appendingPathComponent("out.jsonl").path
    let writer = try BufferedWriter(path: path)
    try ResultExporter(database: try Database(path: fixture.databasePath)).export(batch: fixture.batchID, format: .openai, to: writer)
    try writer.flush()
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    return Dictionary(uniqueKeysWithValues: lines.map { ($0["custom_id"]!.stringValue!, $0) })
}

@Suite("Wire fidelity: what the provider said is kept")
struct WireFidelityTests {
    @Test func anHTTPFailureExportsTheProvidersOwnErrorObjectAndItsStatus() async throws {
        let server = try await MockServer.start(config: MockConfig(faultRate: 1, faultKinds: [.quota], maxFaultsPerRequest: 100))
        defer { Task { try? await server.shutdown() } }
        let fixture = try Fixture(lines: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"].map { model in
            ["custom_id": .string(model), "model": .string(model), "messages": [["role": "user", "content": "Hello"]]]
        })
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 1)
        let lines = try openAIExport(fixture)
        for model in ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"] {
            let response = lines[model]?["response"]
            #expect(response?["status_code"] == 429, "\(model)")
            #expect(lines[model]?["error"] == .null)
            #expect(response?["request_id"]?.stringValue?.isEmpty == false, "\(model): request_id must be a string")
        }
        // Each provider's object as it sent it: no Choreo kind ("quota") inside it.
        let openAI = lines["gpt-4o-mini"]!["response"]!["body"]!["error"]!
        #expect(openAI["code"] == "insufficient_quota")
        #expect(openAI["type"] == "insufficient_quota")
        #expect(openAI["message"] == "You exceeded your current quota, please check your plan and billing details (mock).")
        let anthropic = lines["claude-sonnet-4-5"]!["response"]!["body"]!["error"]!
        #expect(anthropic["type"] == "rate_limit_error")
        #expect(anthropic["details"]?["error_code"] == "enforced_spend_limit_reached")
        let gemini = lines["gemini-2.5-flash"]!["response"]!["body"]!["error"]!
        #expect(gemini["status"] == "RESOURCE_EXHAUSTED")
        #expect(gemini["code"] == 429)
        // Choreo's classification stays in its own columns.
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'quota' AND error_body IS NOT NULL") >= 1)
    }

    @Test func requestIDIsNeverNullInTheExport() async throws {
        let server = try await MockServer.start()
        defer { Task { try? await server.shutdown() } }
        let fixture = try Fixture(count: 3, models: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"])
        #expect(try await fixture.run(server).exitCode == 0)
        let db = try Database(path: fixture.databasePath)
        try db.run("UPDATE jobs SET request_id = NULL WHERE custom_id = 'job-00000'")
        let lines = try openAIExport(fixture)
        for (customID, line) in lines {
            #expect(line["response"]?["request_id"]?.stringValue?.isEmpty == false, "\(customID)")
        }
        let id = try fixture.scalar("SELECT id FROM jobs WHERE custom_id = 'job-00000'")
        #expect(lines["job-00000"]?["response"]?["request_id"] == .string("choreo-\(id)-1"))
    }
}
