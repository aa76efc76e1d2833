import ChoreoAI
@testable import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// Issue 12 part 3: a finished answer is never dropped, however long another process holds the
/// database's write lock.
@Suite("A busy database delays writes and drops none")
struct BusyDatabaseTests {
    /// 200 jobs while another connection twice holds `BEGIN IMMEDIATE` for several times the
    /// runner's busy timeout. The streams in flight go on meanwhile; their final writes wait and
    /// then commit. Before, a final write that met SQLITE_BUSY was dropped and its job ran again.
    @Test func twoLongWriteLocksDuringARunLoseNothingAndRepeatNoRequest() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(4))) { server in
        let fixture = try Fixture(count: 200)
        let busyTimeout = 0.2
        // No stall and no lapsed lease may make a request again here, however loaded the machine:
        // the fixture's 10 s stall timeout and leases are for other tests (CI once saw 208
        // requests, not 200, and did not say why; the message below now does).
        let run = Task {
            try await fixture.run(server) { $0.busyTimeout = busyTimeout; $0.concurrency = 16; $0.stallTimeout = 30; $0.leaseSeconds = 60 }
        }
        let blocker = try Database(path: fixture.databasePath)
        var completedSoFar = 0
        for hold in 1...2 {
            // Let the run get going (again) first.
            try await eventually("jobs to complete before hold \(hold)", timeout: 60) { server.stats().completed >= completedSoFar + 20 }
            try blocker.execute("BEGIN IMMEDIATE")
            let heldAt = Date()
            let atHold = server.stats()
            // Hold well past the busy timeout, until every stream that was running has ended:
            // they stream on while every write waits.
            try await eventually("the streams in flight to end during hold \(hold)", timeout: 60) {
                Date().timeIntervalSince(heldAt) > 5 * busyTimeout && server.stats().streamsActive == 0
            }
            #expect(server.stats().completed >= atHold.completed + atHold.streamsActive, "hold \(hold)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") <= atHold.completed)
            try blocker.execute("COMMIT")
            completedSoFar = server.stats().completed
        }
        let summary = try await run.value
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        try fixture.expectCountsMatchJobs()
        // No job whose whole answer had arrived was requested again.
        // Every attempt that was not a first success, to tell why a request was made again.
        let repeated = try fixture.attemptLog(where: "number > 1 OR outcome IS NOT 'succeeded'")
        #expect(server.stats().requests == 200, "\(repeated)")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts") == 200, "\(repeated)")
    }
    }

    /// A flush that fails (busy) must leave the text "changed", so the next round writes it.
    /// Before, the text was marked flushed before its write committed, and never written.
    @Test func aPartialIsMarkedFlushedOnlyAfterItsWriteCommits() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 1)
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "flusher-test", busyTimeout: 0.05)
        let job = try #require(try await queue.claim(limit: 1, leaseSeconds: 60, batch: fixture.batchID).first)
        let client = ChoreoClient(router: Fixture.router(server))
        let stream = try await client.stream(body: try JSONValue.parse(job.request), provider: try client.provider(for: job.model),
                                             delivery: .collected)
        let ended = AsyncStream<Void> { continuation in stream.onEnd { _ in continuation.finish() } }
        for await _ in ended {}
        let text = stream.text
        #expect(!text.isEmpty)
        let flusher = PartialFlusher(queue: queue)
        flusher.register(LiveOutput(job: job.id, batch: job.batchID, kept: "", keptTokens: 0, stream: stream))

        let blocker = try Database(path: fixture.databasePath)
        try blocker.execute("BEGIN IMMEDIATE")
        await #expect(throws: SQLiteError.self) { try await flusher.flush() }
        try blocker.execute("COMMIT")
        #expect(try fixture.scalar("SELECT partial_output IS NULL FROM partials") == 1)
        try await flusher.flush()
        // The partial kept is the text up to its last non-whitespace character (the continuation seam).
        #expect(try fixture.scalar("SELECT partial_output FROM partials", text: true) == Continuation.prefill(for: text))
    }
    }
}
