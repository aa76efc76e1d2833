import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// A database with one batch of five jobs in every interesting end state.
private func batchWithOutcomes(_ dir: TemporaryDirectory) throws -> (Database, String) {
    let path = dir.write("jobs.jsonl", lines: [
        batchLine("ok", "Name two moons of Mars."),
        batchLine("http400"),
        batchLine("stalled"),
        batchLine("cancelled"),
        batchLine("waiting"),
        batchLine("tools"),
    ])
    let db = try dir.database()
    let id = try BatchSubmitter(database: db).submit(file: path).batchID
    let body = #"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Phobos and Deimos, \"the moons\".","refusal":null,"role":"assistant"}}],"created":1764001000,"id":"chatcmpl-B1","model":"gpt-4o-mini-2024-07-18","object":"chat.completion","usage":{"completion_tokens":5,"prompt_tokens":14,"total_tokens":19}}"#
    try db.run("""
        UPDATE jobs SET state = 'succeeded', output = 'Phobos and Deimos, "the moons".', finish_reason = 'stop', response = ?,
               http_status = 200, request_id = 'req_8f1', prompt_tokens = 14, completion_tokens = 5, total_tokens = 19, attempts = 1,
               duration_ms = 420, started_at = 1764001000, finished_at = 1764001001
        WHERE custom_id = 'ok'
        """, [.text(body)])
    try db.run("UPDATE jobs SET priority = 4, timeout_seconds = 90 WHERE custom_id = 'ok'")  // its line's own, as submitted
    try db.run("""
        UPDATE jobs SET state = 'failed', http_status = 400, request_id = 'req_8f2', error_kind = 'bad_request',
               error_message = 'Invalid value for ''temperature''.', attempts = 1 WHERE custom_id = 'http400'
        """)
    try db.run("""
        UPDATE jobs SET state = 'failed', http_status = 200, error_kind = 'stalled', error_message = 'no data for 60 s', attempts = 5,
               partial_output = 'Half an ans' WHERE custom_id = 'stalled'
        """)
    try db.run("UPDATE jobs SET state = 'succeeded', output = '', tool_calls = ?, finish_reason = 'tool_calls', prompt_tokens = 9, completion_tokens = 3, attempts = 1, finished_at = 1764002000 WHERE custom_id = 'tools'",
               [#"[{"function":{"arguments":"{\"city\":\"Oslo\"}","name":"get_weather"},"id":"call_Q1","type":"function"}]"#])
    _ = try db.cancelBatch(id)  // cancels 'cancelled' and 'waiting' (both pending)
    try db.run("UPDATE jobs SET state = 'pending', error_kind = NULL, error_message = NULL WHERE custom_id = 'waiting'")
    return (db, id)
}

private func export(_ db: Database, _ id: String, _ format: ExportFormat, states: [String] = [], dir: TemporaryDirectory) throws -> String {
    let writer = try BufferedWriter(path: dir.file("out"))
    try ResultExporter(database: db).export(batch: id, format: format, states: states, to: writer)
    try writer.flush()
    return dir.read("out")
}

@Suite("Exporting results")
struct ExportTests {
    @Test func openAIFormatMatchesTheBatchAPIShapes() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let lines = try export(db, id, .openai, dir: dir).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.count == 6)
        let byID = Dictionary(uniqueKeysWithValues: lines.map { ($0["custom_id"]!.stringValue!, $0) })
        let jobID = try db.queryOne("SELECT id FROM jobs WHERE custom_id = 'ok'") { $0.int(0)! }!

        let ok = byID["ok"]!
        #expect(ok["id"] == .string("batch_req_\(jobID)"))
        #expect(ok["error"] == .null)
        #expect(ok["response"]?["status_code"] == 200)
        #expect(ok["response"]?["request_id"] == "req_8f1")
        #expect(ok["response"]?["body"]?["choices"]?.arrayValue?.first?["message"]?["content"] == #"Phobos and Deimos, "the moons"."#)
        #expect(ok["response"]?["body"]?["usage"]?["total_tokens"] == 19)

        let http = byID["http400"]!
        #expect(http["error"] == .null)
        #expect(http["response"]?["status_code"] == 400)
        #expect(http["response"]?["request_id"] == "req_8f2")
        #expect(http["response"]?["body"]?["error"]?["message"] == "Invalid value for 'temperature'.")

        let stalled = byID["stalled"]!
        #expect(stalled["response"] == .null)
        #expect(stalled["error"] == ["code": "stalled", "message": "no data for 60 s"])

        #expect(byID["cancelled"]!["response"] == .null)
        #expect(byID["cancelled"]!["error"]?["code"] == "batch_cancelled")
        #expect(byID["waiting"]!["error"]?["code"] == "batch_incomplete")

        // Rebuilt from columns when no response object was stored.
        let tools = byID["tools"]!["response"]!["body"]!
        #expect(tools["object"] == "chat.completion")
        #expect(tools["created"] == 1764002000)
        let choice = tools["choices"]!.arrayValue![0]
        #expect(choice["finish_reason"] == "tool_calls")
        #expect(choice["message"]?["content"] == .null)
        #expect(choice["message"]?["tool_calls"]?.arrayValue?.first?["id"] == "call_Q1")
        #expect(tools["usage"]?["total_tokens"] == 12)

        // Lines keep the §5.2 key order.
        let raw = dir.read("out")
        #expect(raw.hasPrefix(#"{"id":"batch_req_"#) && raw.contains(#","response":{"status_code":200,"request_id":"req_8f1","body":{"#))
    }

    @Test func jsonlFormatHasOurColumnsAndFiltersByState() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let lines = try export(db, id, .jsonl, states: ["failed"], dir: dir).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.map { $0["custom_id"]! } == ["http400", "stalled"])
        #expect(lines[1]["partial_output"] == "Half an ans")
        #expect(lines[1]["attempts"] == 5)
        #expect(lines[0]["error_kind"] == "bad_request" && lines[0]["http_status"] == 400)
        let all = try export(db, id, .jsonl, dir: dir).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(all.first?["output"] == #"Phobos and Deimos, "the moons"."#)
        #expect(all.map { $0["priority"] } == [4, 0, 0, 0, 0, 0])
        #expect(all.last?["tool_calls"]?.arrayValue?.count == 1)
        #expect(throws: ExportError.self) { try export(db, id, .jsonl, states: ["done"], dir: dir) }
    }

    @Test func csvFormatQuotesPerRFC4180() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let csv = try export(db, id, .csv, dir: dir)
        let rows = csv.components(separatedBy: "\r\n")
        #expect(rows[0] == "custom_id,state,model,finish_reason,prompt_tokens,completion_tokens,total_tokens,attempts,duration_ms,error_kind,error_message,cached_prompt_tokens,reasoning_tokens,cost_usd,priority,cached_from,output")
        #expect(rows[1] == "ok,succeeded,gpt-4o-mini,stop,14,5,19,1,420,,,,,,4,,\"Phobos and Deimos, \"\"the moons\"\".\"")
        #expect(rows.count == 8 && rows[7] == "")
    }

    @Test func textFormatIsReadable() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let text = try export(db, id, .text, dir: dir)
        #expect(text.hasPrefix("=== ok\nPhobos and Deimos, \"the moons\".\n\n=== http400 (failed: bad_request)\nInvalid value for 'temperature'.\n\n"))
        #expect(text.contains("=== waiting (pending)\n"))
    }

    @Test func roundTripOfTheExampleFilesInEveryFormat() throws {
        let dir = TemporaryDirectory()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let db = try dir.database()
        for (file, count) in [("jobs/example-batch.jsonl", 20), ("jobs/short-form.jsonl", 5)] {
            let result = try BatchSubmitter(database: db).submit(file: root.appendingPathComponent(file).path)
            #expect(result.jobCount == count)
            try db.run("UPDATE jobs SET state = 'succeeded', output = 'answer to ' || custom_id, finish_reason = 'stop' WHERE batch_id = ?",
                       [.text(result.batchID)])
            for format in ExportFormat.allCases {
                let out = try export(db, result.batchID, format, dir: dir)
                var ids: [String] = []
                try db.query("SELECT custom_id FROM jobs WHERE batch_id = ? ORDER BY line", [.text(result.batchID)]) { ids.append($0.string(0)!) }
                switch format {
                case .openai, .jsonl:
                    let lines = try out.split(separator: "\n").map { try JSONValue.parse(String($0)) }
                    #expect(lines.map { $0["custom_id"]?.stringValue ?? "" } == ids)
                case .csv: #expect(out.components(separatedBy: "\r\n").count == count + 2)
                case .text: #expect(out.components(separatedBy: "=== ").count == count + 1)
                }
                #expect(out.contains("answer to \(ids[0])"))
            }
        }
    }

    @Test func statusCountsStatesTokensAndFailures() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let status = try BatchStatus.load(db, batch: id, now: 1764003000)
        #expect(status.totalJobs == 6)
        #expect(status.jobs == ["succeeded": 2, "failed": 2, "cancelled": 1, "pending": 1, "running": 0])
        #expect(status.promptTokens == 23 && status.completionTokens == 8)
        #expect(status.failures.map(\.kind) == ["bad_request", "stalled"])
        #expect(status.state == "cancelled" && status.openAIStatus == "cancelled")
        let json = status.json
        #expect(json["object"] == "batch" && json["id"] == .string(id))
        #expect(json["request_counts"] == ["total": 6, "completed": 2, "failed": 2])
        #expect(json["usage"]?["output_tokens"] == 8)
        let text = status.rendered()
        #expect(text.contains("6 total: 1 pending, 0 running, 2 succeeded, 2 failed, 1 cancelled"))
        #expect(text.contains("bad_request 1, stalled 1"))
        #expect(try BatchStatus.loadAll(db).map(\.id) == [id])
        #expect(throws: LookupError.self) { try BatchStatus.load(db, batch: "batch_nope") }
    }

    @Test func showFindsAJobByCustomIDOrNumber() throws {
        let dir = TemporaryDirectory()
        let (db, _) = try batchWithOutcomes(dir)
        let detail = try JobDetail.load(db, job: "stalled")
        #expect(detail.record.state == "failed" && detail.request.contains("Hello"))
        #expect(detail.rendered().contains("partial output (11 characters so far)"))
        #expect(try JobDetail.load(db, job: String(detail.record.id)).record.customID == "stalled")
        #expect(throws: LookupError.self) { try JobDetail.load(db, job: "nope") }
    }

    @Test func showListsTheBatchesOfAnAmbiguousCustomIDAndReadsTheWholeJob() throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        let second = try BatchSubmitter(database: db).submit(file: dir.write("more.jsonl", lines: [batchLine("ok", "Again.")])).batchID
        #expect {
            try JobDetail.load(db, job: "ok")
        } throws: { error in
            guard case LookupError.ambiguousJob("ok", let batches) = error else { return false }
            return batches == [second, id]
        }
        let detail = try JobDetail.load(db, job: "ok", batch: id)
        #expect(detail.batchID == id && detail.request.contains("moons of Mars") && detail.leaseOwner == nil && detail.notBefore == nil)
        #expect(detail.record.response?.contains("chatcmpl-B1") == true)
        let json = detail.json
        #expect(json["batch_id"] == .string(id) && json["custom_id"] == "ok" && json["total_tokens"] == 19)
        #expect(json["request"]?["model"] == "gpt-4o-mini")
        #expect(json["priority"] == 4 && json["timeout_seconds"]?.doubleValue == 90)
        #expect(detail.rendered().contains("priority  4  timeout: 90 s per attempt\n"), "\(detail.rendered())")
        let other = try JobDetail.load(db, job: "http400")
        #expect(other.json["priority"] == 0 && other.json["timeout_seconds"] == .null)
        #expect(other.rendered().contains("priority  0\n"))
    }

    @Test func queueCountsMatchTheJobsTable() async throws {
        let dir = TemporaryDirectory()
        let (db, id) = try batchWithOutcomes(dir)
        _ = try BatchSubmitter(database: db).submit(file: dir.write("more.jsonl", lines: [batchLine("a"), batchLine("b")]))
        try db.run("UPDATE jobs SET state = 'running' WHERE custom_id = 'a'")
        func scanned(_ batch: String?) throws -> [String: Int] {
            var out: [String: Int] = [:]
            try db.query("SELECT state, count(*) FROM jobs WHERE ?1 IS NULL OR batch_id = ?1 GROUP BY state", [.init(batch)]) {
                out[$0.string(0)!] = $0.int(1)!
            }
            return out
        }
        let queue = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r1")
        #expect(try await queue.counts(batch: id) == scanned(id))
        #expect(try await queue.counts(batch: nil) == scanned(nil))
        #expect(try await queue.counts(batch: "batch_nope") == [:])
    }

    @Test func sqlOutputRefusesWritesOnAReadOnlyConnection() throws {
        let dir = TemporaryDirectory()
        _ = try batchWithOutcomes(dir)
        let ro = try dir.database(readOnly: true)
        let writer = try BufferedWriter(path: dir.file("sql.txt"))
        #expect(try QueryOutput.run(ro, sql: "SELECT custom_id, attempts FROM jobs ORDER BY id LIMIT 2", format: .table, to: writer) == 2)
        try writer.flush()
        #expect(dir.read("sql.txt") == "custom_id  attempts\n---------  --------\nok         1\nhttp400    1\n(2 rows)\n")
        #expect(throws: QueryError.self) { try QueryOutput.run(ro, sql: "UPDATE jobs SET state = 'pending'", format: .table, to: writer) }
        #expect(try ro.count("SELECT count(*) FROM jobs WHERE state = 'pending'") == 1)
    }
}
