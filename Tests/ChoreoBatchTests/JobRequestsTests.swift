import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// SQLite keeps each job's request in `job_requests` (schema 19), written once by `submit`, so an
/// `UPDATE` of a job (its claim, an attempt's start and end, the answer) no longer rewrites a long
/// prompt's overflow pages with the record (issue 20: with 5 KB prompts that was most of what a
/// job wrote). What readers see must not change: the claim, `show` and the estimate read the
/// request from there, and a database of schema 18 keeps every request it had.
@Suite("Requests in a table of their own (SQLite)")
struct JobRequestsTests {
    /// A job line whose system prompt is `bytes` bytes long.
    private func longPromptLine(_ id: String, bytes: Int) -> String {
        let prompt = String(repeating: "You answer in one short sentence. ", count: bytes / 34 + 1).prefix(bytes)
        return batchLine(id, extra: "").replacingOccurrences(
            of: #""messages":["#, with: #""messages":[{"role":"system","content":"\#(prompt)"},"#)
    }

    private func outcome(_ text: String) -> JobOutcome {
        JobOutcome(output: text, toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
                   promptTokens: 1300, completionTokens: 2, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: nil,
                   bytesReceived: 10, charsReceived: text.count)
    }

    /// The pages of `table` of each type, from SQLite's `dbstat` (`leaf`, `overflow`, …).
    private func pages(_ db: Database, _ table: String, _ type: String) throws -> Int {
        try db.count("SELECT count(*) FROM dbstat WHERE name = ? AND pagetype = ?", [.text(table), .text(type)])
    }

    @Test func longPromptsLeaveTheJobsRecordsOnTheirPagesThroughAJobsLife() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<12).map { longPromptLine("j\($0)", bytes: 5_000) })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let db = try dir.database()
        var stored: [Int64: String] = [:]
        try db.query("SELECT job_id, request FROM job_requests") { stored[$0.int64(0)!] = $0.string(1)! }
        #expect(stored.count == 12 && stored.values.allSatisfy { $0.utf8.count > 5_000 })
        #expect(try pages(db, "job_requests", "overflow") >= 12, "the prompts are meant to need overflow pages")

        let queue = try JobQueue(path: dir.databasePath, runnerID: "r1")
        let claimed = try await queue.claim(limit: 12, leaseSeconds: 600, batch: nil)
        #expect(Dictionary(uniqueKeysWithValues: claimed.map { ($0.id, $0.request) }) == stored)
        for job in claimed {
            let attempt = try await queue.startAttempt(job: job.id, continuedFromChars: nil)
            #expect(try await queue.complete(job: job.id, attempt: attempt, outcome: outcome("Done \(job.id).")))
        }
        #expect(try db.count("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 12)
        #expect(try pages(db, "jobs", "overflow") == 0, "a jobs record carries its prompt again")
        #expect(try db.count("SELECT count(*) FROM jobs_readable WHERE length(request) > 5000") == 12)
    }

    /// A database of schema 18 (the request in `jobs.request`) migrates with every request kept,
    /// and each reader finds it: the claim, `show`, the estimate.
    @Test func aDatabaseOfSchema18KeepsItsRequests() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [longPromptLine("long", bytes: 5_000), batchLine("short", "Hi")])
        let batch = try BatchSubmitter(database: try dir.database()).submit(file: path).batchID
        let raw = try Database(path: dir.databasePath)
        var before: [String: String] = [:]
        try raw.query("SELECT custom_id, request FROM jobs_readable") { before[$0.string(0)!] = $0.string(1)! }
        try raw.execute(OldSchema.version18)
        #expect(try raw.count("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'request'") == 1)
        #expect(try raw.count("SELECT count(*) FROM sqlite_schema WHERE name = 'job_requests'") == 0)

        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.count("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'request'") == 0)
        var after: [String: String] = [:]
        try db.query("SELECT j.custom_id, r.request FROM jobs j JOIN job_requests r ON r.job_id = j.id") { after[$0.string(0)!] = $0.string(1)! }
        #expect(after == before && before.count == 2)

        #expect(try JobDetail.load(db, job: "long").request == before["long"])
        let left = try SQLiteBatchStore(db).jobsLeft(batch: batch)
        #expect(left.map { $0.body.jsonString }.sorted() == before.values.map { try! JSONValue.parse($0).jsonString }.sorted())
        let queue = try JobQueue(path: dir.databasePath, runnerID: "r1")
        let claimed = try await queue.claim(limit: 2, leaseSeconds: 600, batch: nil)
        #expect(Dictionary(uniqueKeysWithValues: claimed.map { ($0.customID, $0.request) }) == before)
    }
}
