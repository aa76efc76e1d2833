import ChoreoBatch
import ChoreoMock
import Foundation
import ChoreoTesting
import Testing
import ChoreoSQLite

@Suite("status reads trigger-kept counters")
struct StatusCountsTests {
    @Test func statusMatchesTheJobsAfterARunAndAfterEditsBySQL() async throws {
        try await withMockServer(config: MockConfig(faultRate: 0.3, seed: 11, retryAfterMs: 20)) { server in
        let fixture = try Fixture(count: 60, maxTokens: 9)
        _ = try await fixture.run(server) { $0.stallTimeout = Fixture.stallFaults }
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
    }

    @Test func aVersion2DatabaseGetsItsCountersOnUpgrade() throws {
        let fixture = try Fixture(count: 10)
        do {
            // Take the file back to schema v2, with jobs in several states.
            let db = try Database(path: fixture.databasePath)
            try db.execute(OldSchema.version2)
            try db.execute("""
                UPDATE jobs SET state = 'succeeded', prompt_tokens = 3, completion_tokens = 4, started_at = 100, finished_at = 200 WHERE id <= 6;
                UPDATE jobs SET state = 'failed', error_kind = 'auth' WHERE id IN (7, 8);
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
