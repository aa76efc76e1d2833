import ChoreoBatch
import ChoreoMock
import Foundation
import Testing

@Suite("status reads trigger-kept counters")
struct StatusCountsTests {
    @Test func statusMatchesTheJobsAfterARunAndAfterEditsBySQL() async throws {
        let server = try await MockServer.start(config: MockConfig(faultRate: 0.3, seed: 11, retryAfterMs: 20))
        defer { Task { try? await server.shutdown() } }
        let fixture = try Fixture(count: 60, maxTokens: 9)
        _ = try await fixture.run(server)
        let db = try Database(path: fixture.databasePath)
        var status = try BatchStatus.load(db, batch: fixture.batchID)
        #expect(status.count("succeeded") == 60 && status.count("pending") == 0)
        #expect(status.completionTokens == 60 * 9)
        #expect(status.startedAt != nil && status.finishedAt != nil)
        // A person fixing things by hand with SQL keeps the counters right too.
        try db.execute("UPDATE jobs SET state = 'failed', error_kind = 'bad_request' WHERE id IN (SELECT id FROM jobs LIMIT 5)")
        try db.execute("UPDATE jobs SET state = 'pending', error_kind = NULL WHERE id IN (SELECT id FROM jobs WHERE state = 'succeeded' LIMIT 3)")
        status = try BatchStatus.load(db, batch: fixture.batchID)
        #expect(status.count("failed") == 5 && status.count("pending") == 3 && status.count("succeeded") == 52)
        #expect(status.failures.first?.0 == "bad_request" && status.failures.first?.1 == 5)
        try fixture.expectCountsMatchJobs()
    }

    @Test func aVersion2DatabaseGetsItsCountersOnUpgrade() throws {
        let fixture = try Fixture(count: 10)
        do {
            // Take the file back to schema v2, with jobs in several states.
            let db = try Database(path: fixture.databasePath)
            try db.execute("""
                DROP VIEW batches_readable; DROP VIEW jobs_readable; DROP VIEW attempts_readable; DROP VIEW runners_readable;
                DROP TRIGGER attempts_keep_costs; DROP TABLE batch_costs; DROP VIEW results;
                CREATE VIEW results AS SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
                  j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms
                  FROM jobs j JOIN batches b ON b.id = j.batch_id;
                ALTER TABLE jobs DROP COLUMN cached_prompt_tokens; ALTER TABLE jobs DROP COLUMN cache_write_tokens;
                ALTER TABLE jobs DROP COLUMN reasoning_tokens; ALTER TABLE jobs DROP COLUMN cost_usd;
                ALTER TABLE attempts DROP COLUMN prompt_tokens; ALTER TABLE attempts DROP COLUMN cached_prompt_tokens;
                ALTER TABLE attempts DROP COLUMN cache_write_tokens; ALTER TABLE attempts DROP COLUMN completion_tokens;
                ALTER TABLE attempts DROP COLUMN reasoning_tokens; ALTER TABLE attempts DROP COLUMN usage_estimated;
                ALTER TABLE attempts DROP COLUMN cost_usd; ALTER TABLE batches DROP COLUMN budget_usd;
                DROP TRIGGER jobs_keep_batch_counts; DROP TABLE batch_counts;
                ALTER TABLE batches DROP COLUMN started_at; ALTER TABLE batches DROP COLUMN last_finished_at;
                ALTER TABLE batches DROP COLUMN submitter; ALTER TABLE batches DROP COLUMN submit_heartbeat_at;
                ALTER TABLE attempts DROP COLUMN continuation; ALTER TABLE attempts DROP COLUMN continuation_reason;
                ALTER TABLE jobs DROP COLUMN error_body; ALTER TABLE jobs DROP COLUMN metadata; ALTER TABLE jobs DROP COLUMN reasoning;
                DROP TABLE prefill_refusals;
                -- schema v7 (timings)
                ALTER TABLE attempts DROP COLUMN queue_ms; ALTER TABLE attempts DROP COLUMN headers_ms; ALTER TABLE attempts DROP COLUMN first_token_ms; ALTER TABLE attempts DROP COLUMN streaming_ms; ALTER TABLE attempts DROP COLUMN chunks; ALTER TABLE attempts DROP COLUMN gaps; ALTER TABLE attempts DROP COLUMN gap_p50_ms; ALTER TABLE attempts DROP COLUMN gap_p95_ms; ALTER TABLE attempts DROP COLUMN gap_max_ms; ALTER TABLE attempts DROP COLUMN gaps_over_1s; ALTER TABLE attempts DROP COLUMN tokens_per_s;
                ALTER TABLE jobs DROP COLUMN queue_ms; ALTER TABLE jobs DROP COLUMN headers_ms; ALTER TABLE jobs DROP COLUMN streaming_ms; ALTER TABLE jobs DROP COLUMN chunks; ALTER TABLE jobs DROP COLUMN gaps; ALTER TABLE jobs DROP COLUMN gap_p50_ms; ALTER TABLE jobs DROP COLUMN gap_p95_ms; ALTER TABLE jobs DROP COLUMN gap_max_ms; ALTER TABLE jobs DROP COLUMN gaps_over_1s; ALTER TABLE jobs DROP COLUMN tokens_per_s; ALTER TABLE jobs DROP COLUMN bytes_received;
                UPDATE jobs SET state = 'succeeded', prompt_tokens = 3, completion_tokens = 4, started_at = 100, finished_at = 200 WHERE id <= 6;
                UPDATE jobs SET state = 'failed', error_kind = 'auth' WHERE id IN (7, 8);
                PRAGMA user_version = 2;
                """)
        }
        let db = try Database(path: fixture.databasePath)  // migrates to the current version
        let status = try BatchStatus.load(db, batch: fixture.batchID)
        #expect(status.count("succeeded") == 6 && status.count("failed") == 2 && status.count("pending") == 2)
        #expect(status.promptTokens == 18 && status.completionTokens == 24)
        #expect(status.startedAt == 100 && status.finishedAt == 200)
        try fixture.expectCountsMatchJobs()
    }
}
