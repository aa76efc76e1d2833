import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoPostgres
import ChoreoTesting

/// PostgreSQL schema version 3 (`PostgresSchema.counterShards`): each session counts its batch's
/// jobs in a shard of its own, and `batch_counts` sums them.
@Suite(.enabled(if: PostgresServer.skipReason == nil, Comment(rawValue: PostgresServer.skipReason ?? "")))
struct PostgresCounterShardsTests {
    private func number(_ db: PostgresConnection, _ sql: String) throws -> Int? {
        try db.queryOne(sql) { $0.int(0) } ?? nil
    }

    /// A runner's transaction that finishes a job keeps its counter rows locked until it
    /// commits. Another runner's claim, which counts one more running job of the same batch,
    /// must not wait for it: they used to queue on the batch's one `running` row.
    @Test func aFinishNotYetCommittedDoesNotHoldUpAnotherSessionsClaim() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<3).map { batchLine("j\($0)") })
        let database = try PostgresServer.shared.get().createDatabase()
        let url = try PostgresURL(database.url)
        _ = try PostgresBatchSubmitter(url: url).submit(file: path)
        let finisher = try PostgresConnection(url: url)
        // A claimer whose session counts in another shard than the finisher's.
        let finisherShard = try #require(try number(finisher, "SELECT pg_backend_pid() % 64"))
        var claimer = try PostgresConnection(url: url, serverSettings: ["lock_timeout": "2s"])
        while try number(claimer, "SELECT pg_backend_pid() % 64") == finisherShard {
            claimer = try PostgresConnection(url: url, serverSettings: ["lock_timeout": "2s"])
        }
        let ids = try { var ids: [Int64] = []; try finisher.query("SELECT id FROM jobs ORDER BY id") { ids.append($0.int64(0)!) }; return ids }()
        try finisher.run("UPDATE jobs SET state = 'running', lease_owner = 'r1' WHERE id = $1", [.init(ids[0])])

        try finisher.execute("BEGIN")
        try finisher.run("UPDATE jobs SET state = 'succeeded', lease_owner = NULL, completion_tokens = 4 WHERE id = $1", [.init(ids[0])])
        // Without shards this waits for the finisher's lock on the `running` row, until lock_timeout.
        try claimer.run("UPDATE jobs SET state = 'running', lease_owner = 'r2' WHERE id = $1", [.init(ids[1])])
        try finisher.execute("COMMIT")

        let store = try PostgresJobStore(url: url, runnerID: "r3")
        #expect(try await store.counts(batch: nil) == ["pending": 1, "running": 1, "succeeded": 1])
        #expect(try number(claimer, "SELECT completion_tokens FROM batch_counts WHERE state = 'succeeded'") == 4)
        #expect(try number(claimer, "SELECT count(*) FROM batch_count_shards WHERE state = 'running'") == 2)
    }

    /// A database written by version 2 keeps its counts through the migration (they become
    /// shard 0) and counts on from there; a build that knows only version 2 refuses it afterwards.
    @Test func aVersion2DatabaseKeepsItsCountsAndAVersion2BuildRefusesANewerOne() async throws {
        let database = try PostgresServer.shared.get().createDatabase()
        let db = try database.connect()
        let version2 = PostgresMigrator(Array(PostgresSchema.migrator.migrations.prefix(2)))
        try version2.migrate(db, now: 1)
        try db.execute("""
            INSERT INTO batches (id, created_at, total_jobs) VALUES ('b', 1, 4);
            INSERT INTO jobs (batch_id, custom_id, line, model, request, created_at)
              VALUES ('b', 'a', 1, 'm', '{}', 1), ('b', 'b', 2, 'm', '{}', 1), ('b', 'c', 3, 'm', '{}', 1), ('b', 'd', 4, 'm', '{}', 1);
            UPDATE jobs SET state = 'running' WHERE custom_id <> 'd';
            UPDATE jobs SET state = 'succeeded', completion_tokens = 5 WHERE custom_id = 'a';
            UPDATE jobs SET state = 'failed', error_kind = 'server_error' WHERE custom_id = 'b';
            """)
        func counts() throws -> [String] {
            var rows: [String] = []
            try db.query("SELECT state, error_kind, jobs, completion_tokens FROM batch_counts WHERE jobs > 0 ORDER BY state") {
                rows.append("\($0.string(0)!)/\($0.string(1)!)/\($0.int(2)!)/\($0.int(3)!)")
            }
            return rows
        }
        let before = try counts()
        #expect(before == ["failed/server_error/1/0", "running//1/0", "succeeded//1/5"])

        try PostgresSchema.migrator.migrate(db, now: 2)
        let current = try #require(PostgresSchema.migrator.migrations.last?.version)
        #expect(try PostgresMigrator.version(db) == current)
        #expect(try counts() == before)
        try db.execute("UPDATE jobs SET state = 'succeeded', completion_tokens = 2 WHERE custom_id = 'c'")
        #expect(try counts() == ["failed/server_error/1/0", "succeeded//2/7"])

        let refused = #expect(throws: PostgresSchemaError.self) { try version2.migrate(db, now: 3) }
        #expect(refused?.description.contains("schema version \(current)") == true)
        #expect(try counts() == ["failed/server_error/1/0", "succeeded//2/7"])
    }
}
