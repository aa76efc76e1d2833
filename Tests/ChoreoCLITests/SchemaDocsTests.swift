import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// docs/schema.md against the real schema; the readable views' ISO times; the opt-in
/// full-text index kept up to date by real runs; the documented queries run.
@Suite struct SchemaDocsTests {
    static let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/schema.md")

    @Test func everyTableViewAndColumnIsDocumented() throws {
        let fixture = try Fixture(count: 1)
        let db = try Database(path: fixture.databasePath)
        try db.enableOutputIndex()
        let text = try String(contentsOf: Self.doc, encoding: .utf8)
        // Sections by their `### `name`` heading.
        var sections: [String: String] = [:]
        for part in text.components(separatedBy: "\n### `").dropFirst() {
            let name = String(part.prefix { $0 != "`" })
            sections[name] = part
        }
        var objects: [(name: String, columns: [String])] = []
        try db.query("""
            SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'
              AND name NOT LIKE 'outputs_fts_%' ORDER BY name
            """) { objects.append(($0.string(0)!, [])) }
        #expect(objects.count >= 13)
        for i in objects.indices {
            try db.query("SELECT name FROM pragma_table_info(?)", [.text(objects[i].name)]) { objects[i].columns.append($0.string(0)!) }
        }
        for (name, columns) in objects {
            guard let section = sections[name] else { Issue.record("docs/schema.md has no section for \(name)"); continue }
            // A readable view is "every column of X, plus" its ISO columns.
            let own = name.hasSuffix("_readable") ? columns.filter { $0.hasSuffix("_iso") } : columns
            for column in own where !section.contains("| `\(column)` |") {
                Issue.record("docs/schema.md: \(name).\(column) is not documented")
            }
        }
    }

    @Test func readableViewsGiveISOTimesBesideTheNumbers() throws {
        let fixture = try Fixture(count: 2)
        let db = try Database(path: fixture.databasePath)
        try db.run("UPDATE jobs SET started_at = 1764550000.25, finished_at = NULL")
        try db.query("SELECT created_at, created_at_iso, started_at_iso, finished_at_iso FROM jobs_readable") { row in
            let iso = ISO8601DateFormatter()
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let created = try #require(row.double(0)), text = try #require(row.string(1))
            #expect(abs(try #require(iso.date(from: text)).timeIntervalSince1970 - created) < 0.001, "\(text) for \(created)")
            #expect(row.string(2) == "2025-12-01T00:46:40.250Z")
            #expect(row.string(3) == nil)
        }
        let batch = try #require(try db.queryOne("SELECT created_at_iso FROM batches_readable") { $0.string(0) } ?? nil)
        #expect(batch.hasSuffix("Z") && batch.contains("T"))
    }

    @Test func theFullTextIndexFollowsRunsAndTheDocumentedQueriesWork() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 4, maxTokens: 30)
        _ = try await fixture.run(server) { $0.batch = nil }
        // On after the first run: the index is built over what is there...
        let on = try await ChoreoBinary.run(["index", "on", "--db", fixture.databasePath])
        #expect(on.status == 0, "\(on.stderr)")
        // ...and kept up to date by the next run: a second batch in the same file.
        let more = fixture.directory.appendingPathComponent("more.jsonl")
        try (#"{"custom_id": "later", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Another question"}], "max_tokens": 30}"#
             + "\n").write(to: more, atomically: true, encoding: .utf8)
        _ = try BatchSubmitter(database: Database(path: fixture.databasePath)).submit(file: more.path)
        let summary = try await fixture.run(server) { $0.batch = nil }
        #expect(summary.succeeded == 1, "\(summary)")
        var outputs: [String: String] = [:]
        try Database(path: fixture.databasePath, readOnly: true).query("SELECT custom_id, output FROM jobs") { outputs[$0.string(0)!] = $0.string(1) }
        #expect(outputs.count == 5)
        for row in outputs {
            let output = try #require(row.value)
            // A distinctive word of this job's output finds this job.
            let word = try #require(output.split(whereSeparator: { !$0.isLetter }).map(String.init).filter { $0.count >= 4 }.first)
            let found = try await ChoreoBinary.run(["sql", "--db", fixture.databasePath, "--json",
                "SELECT j.custom_id FROM outputs_fts f JOIN jobs j ON j.id = f.rowid WHERE outputs_fts MATCH '\"\(word)\"'"])
            #expect(found.stdout.contains("\"\(row.key)\""), "\(row.key): \(word) → \(found.stdout) \(found.stderr)")
        }
        // The documented queries run as written.
        let text = try String(contentsOf: Self.doc, encoding: .utf8)
        let queries = text.components(separatedBy: "choreo sql \"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(queries.count >= 4)
        for query in queries {
            let r = try await ChoreoBinary.run(["sql", "--db", fixture.databasePath, query])
            #expect(r.status == 0, "\(query): \(r.stderr)")
        }
        let off = try await ChoreoBinary.run(["index", "off", "--db", fixture.databasePath])
        #expect(off.status == 0)
        #expect(try Database(path: fixture.databasePath).hasOutputIndex == false)
    }
    }
}
