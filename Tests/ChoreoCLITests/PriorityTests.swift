import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// Priorities end to end: a run starts the jobs in claim order, and the command line sets,
/// shows and exports them.
@Suite("Priority, end to end")
struct PriorityTests {
    static func line(_ id: String, priority: Int? = nil) -> JSONValue {
        var line: [String: JSONValue] = ["custom_id": .string(id),
                                         "body": ["model": "gpt-4o-mini", "messages": [["role": "user", "content": .string("Say \(id)")]],
                                                  "max_tokens": 8]]
        if let priority { line["priority"] = .int(Int64(priority)) }
        return .object(line)
    }

    @Test func aRunStartsHigherPrioritiesFirstAcrossBatches() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(lines: [Self.line("a"), Self.line("b", priority: 5), Self.line("c", priority: -1), Self.line("d", priority: 5)])
            // A newer batch whose jobs default to 3.
            var options = SubmitOptions()
            options.priority = 3
            let newer = fixture.directory.appendingPathComponent("newer.jsonl")
            try (Self.line("x").jsonString + "\n").write(to: newer, atomically: true, encoding: .utf8)
            _ = try BatchSubmitter(database: Database(path: fixture.databasePath), options: options).submit(file: newer.path)

            // One stream at a time: the order attempts begin in is the claim order.
            let summary = try await fixture.run(server) {
                $0.batch = nil
                $0.concurrency = 1
            }
            #expect(summary.succeeded == 5, "\(summary)")
            try fixture.expectAllExact()
            var started: [String] = []
            try Database(path: fixture.databasePath, readOnly: true).query(
                "SELECT j.custom_id FROM attempts a JOIN jobs j ON j.id = a.job_id ORDER BY a.started_at, a.id") { started.append($0.string(0)!) }
            #expect(started == ["b", "d", "x", "a", "c"])
        }
    }

    @Test func submitPriorityIsStoredShownAndExported() async throws {
        let scratch = TemporaryDirectory()
        let db = scratch.databasePath
        let file = scratch.write("jobs.jsonl", lines: [Self.line("own", priority: -4).jsonString, Self.line("batch").jsonString])
        let submit = try await ChoreoBinary.run(["submit", file, "--db", db, "--priority", "7"])
        #expect(submit.status == 0, "\(submit.output)")
        let batch = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let show = try await ChoreoBinary.run(["show", "batch", "--db", db])
        #expect(show.stdout.contains("priority  7\n"), "\(show.stdout)")
        let shown = try JSONValue.parse(try await ChoreoBinary.run(["show", "own", "--db", db, "--json"]).stdout)
        #expect(shown["priority"] == -4)

        let jsonl = try await ChoreoBinary.run(["results", batch, "--db", db, "--format", "jsonl"])
        let priorities = try jsonl.stdout.split(separator: "\n").map { try JSONValue.parse(String($0))["priority"] }
        #expect(priorities == [-4, 7])
        let csv = try await ChoreoBinary.run(["results", batch, "--db", db, "--format", "csv"])
        #expect(csv.stdout.hasPrefix("custom_id,state,model,") && csv.stdout.contains(",priority,cached_from,output\r\n"), "\(csv.stdout)")

        // Out of range: a usage error, nothing stored.
        let wrong = try await ChoreoBinary.run(["submit", file, "--db", db, "--priority", "1000001", "--new"])
        #expect(wrong.status == 2 && wrong.stderr.contains("--priority must be from -1000000 to 1000000"), "\(wrong.output)")
        let help = try await ChoreoBinary.run(["help", "submit"])
        #expect(help.stdout.contains("--priority") && help.stdout.contains("\"priority\":10,\"timeout\":120"), "\(help.stdout)")
    }
}
