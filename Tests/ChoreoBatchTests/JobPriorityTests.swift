import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// A job's `priority` decides the claim order: higher first, the oldest first among equals,
/// across batches, whether a job is pending or taken back from a dead runner's lease.
@Suite("Job priority and the claim order")
struct JobPriorityTests {
    /// An OpenAI Batch line with Choreo's own `priority` (and `timeout`) beside its body.
    static func line(_ id: String, priority: Int? = nil, timeout: Double? = nil) -> String {
        var settings = ""
        if let priority { settings += #","priority":\#(priority)"# }
        if let timeout { settings += #","timeout":\#(timeout)"# }
        return #"{"custom_id":"\#(id)","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello \#(id)"}]}\#(settings)}"#
    }

    /// Submits `lines` as one batch (`priority` for the lines without their own) and returns its id.
    @discardableResult
    static func submit(_ dir: TemporaryDirectory, _ lines: [String], priority: Int? = nil, name: String = "jobs.jsonl") throws -> String {
        var options = SubmitOptions(forceNew: true)
        options.priority = priority
        return try BatchSubmitter(database: try dir.database(), options: options).submit(file: dir.write(name, lines: lines)).batchID
    }

    /// The custom ids of what `store` claims, `limit` at a time, until the queue is empty.
    static func claims(_ store: JobQueue, limit: Int) async throws -> [[String]] {
        var out: [[String]] = []
        while true {
            let jobs = try await store.claim(limit: limit, leaseSeconds: 600, batch: nil)
            if jobs.isEmpty { return out }
            out.append(jobs.map(\.customID))
        }
    }

    @Test func claimsTakeHigherPrioritiesFirstAndTheOldestFirstAmongEquals() async throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, [Self.line("a"), Self.line("b", priority: 5), Self.line("c", priority: -1), Self.line("d", priority: 5),
                              Self.line("e"), Self.line("f", priority: 10)])
        let store = try JobQueue(path: dir.databasePath, runnerID: "r1")
        // Each claim comes back in claim order too (not by id: f is the newest job): the run starts them so.
        #expect(try await Self.claims(store, limit: 2) == [["f", "b"], ["d", "a"], ["e", "c"]])
    }

    @Test func submitPriorityIsTheDefaultOfLinesWithoutTheirOwn() throws {
        let dir = TemporaryDirectory()
        let batch = try Self.submit(dir, [Self.line("own", priority: 7), Self.line("negative", priority: -2), Self.line("none"),
                                          #"{"custom_id":"null","body":{"model":"m","messages":[{"role":"user","content":"x"}]},"priority":null}"#],
                                    priority: 3)
        let db = try dir.database()
        var stored: [String: Int] = [:]
        try db.query("SELECT custom_id, priority FROM jobs WHERE batch_id = ?", [.text(batch)]) { stored[$0.string(0)!] = $0.int(1)! }
        #expect(stored == ["own": 7, "negative": -2, "none": 3, "null": 3])
        #expect(try db.queryOne("SELECT options FROM batches WHERE id = ?", [.text(batch)]) { $0.string(0) }??.contains(#""priority":3"#) == true)

        // Without one, a job's priority is 0.
        let plain = try Self.submit(dir, [Self.line("plain")], name: "plain.jsonl")
        #expect(try db.count("SELECT priority FROM jobs WHERE batch_id = ?", [.text(plain)]) == 0)
    }

    @Test func aSubmitPriorityOutOfRangeStoresNothing() throws {
        let dir = TemporaryDirectory()
        #expect(throws: SubmitOptionError.self) { try Self.submit(dir, [Self.line("a")], priority: 1_000_001) }
        #expect(try dir.database().count("SELECT count(*) FROM batches") == 0)
    }

    @Test func aNewerBatchOfHigherPriorityIsClaimedBeforeAnOlderOne() async throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, [Self.line("old-1"), Self.line("old-2")], name: "old.jsonl")
        let urgent = try Self.submit(dir, [Self.line("urgent-1"), Self.line("urgent-2", priority: -5)], priority: 1, name: "urgent.jsonl")
        let store = try JobQueue(path: dir.databasePath, runnerID: "r1")
        // The line's own priority wins over its batch's: urgent-2 goes last.
        #expect(try await Self.claims(store, limit: 10) == [["urgent-1", "old-1", "old-2", "urgent-2"]])
        #expect(try await store.counts(batch: urgent) == ["running": 2])
    }

    @Test func aJobTakenBackFromAnExpiredLeaseKeepsItsPlaceInTheClaimOrder() async throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, [Self.line("low-1"), Self.line("high", priority: 5), Self.line("low-2")])
        let dead = try JobQueue(path: dir.databasePath, runnerID: "dead")
        // A lease that is over as soon as it is taken: its runner died.
        #expect(try await dead.claim(limit: 1, leaseSeconds: -1, batch: nil).map(\.customID) == ["high"])
        let next = try JobQueue(path: dir.databasePath, runnerID: "next")
        // Taken back before the pending jobs of lower priority, not behind all of them.
        #expect(try await Self.claims(next, limit: 1) == [["high"], ["low-1"], ["low-2"]])
    }

    /// The pending part of a claim walks `jobs_runnable` in claim order and stops at its limit:
    /// a sort of every pending job would make each claim of a million-job queue cost seconds.
    @Test(arguments: [nil, "batch_0123456789ab"])
    func claimWalksTheRunnableIndexWithoutSorting(batch: String?) throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, (0..<50).map { Self.line("j\($0)", priority: $0 % 3) })
        let db = try dir.database()
        let filter = Database.batchFilter("batch_id", batch)
        var plan: [String] = []
        try db.query("EXPLAIN QUERY PLAN " + JobQueue.pendingCandidates(filter: filter.sql), [.real(0)] + filter.arguments + [.integer(10)]) {
            plan.append($0.string(3) ?? "")
        }
        #expect(plan.contains { $0.contains("jobs USING INDEX jobs_runnable") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "the claim sorts instead of walking the index: \(plan)")

        // The expired leases, asked on every claim, are found by their expiry, not among every running job.
        plan = []
        try db.query("EXPLAIN QUERY PLAN " + JobQueue.expiredCandidates(filter: filter.sql),
                     [.real(0), .text("r1")] + filter.arguments + [.integer(10)]) { plan.append($0.string(3) ?? "") }
        #expect(plan.contains { $0.contains("jobs USING INDEX jobs_leases (lease_expires_at<?)") }, "\(plan)")
    }

    /// The outlook, asked every 50 ms while a run has free slots, reads the live jobs through
    /// `jobs_by_batch_state` from each live batch, never every job with its stored answer.
    @Test(arguments: [nil, "batch_0123456789ab"])
    func theOutlookReadsOnlyTheLiveJobsOfLiveBatches(batch: String?) throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, (0..<50).map { Self.line("j\($0)") })
        let db = try dir.database()
        let filter = JobQueue.excluding(["gpt-4.1"], "j.model", Database.batchFilter("j.batch_id", batch))
        var plan: [String] = []
        try db.query("EXPLAIN QUERY PLAN " + JobQueue.outlookQuery(filter: filter.sql), [.text("r1")] + filter.arguments) {
            plan.append($0.string(3) ?? "")
        }
        #expect(!plan.contains { $0 == "SCAN j" || $0.hasPrefix("SCAN j ") }, "the outlook reads every job: \(plan)")
        #expect(plan.contains { $0.contains("j USING INDEX jobs_by_batch_state (batch_id=? AND state=?)") }, "\(plan)")
    }

    /// A database of the schema before priorities gets priority 0 for every job, the index in
    /// claim order, and claims in id order as before.
    @Test func anOlderDatabaseGainsPriorityZeroAndKeepsItsOrder() async throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, [Self.line("a"), Self.line("b"), Self.line("c")])
        do {
            let raw = try Database(path: dir.databasePath, readOnly: false, migrate: false)
            try raw.execute(OldSchema.version9)
        }
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE priority = 0 AND timeout_seconds IS NULL") == 3)
        #expect(try db.queryOne("SELECT sql FROM sqlite_schema WHERE name = 'jobs_runnable'") { $0.string(0) }??.contains("priority DESC, id") == true)
        let store = try JobQueue(path: dir.databasePath, runnerID: "r1")
        #expect(try await Self.claims(store, limit: 2) == [["a", "b"], ["c"]])
    }

    @Test func aLinesTimeoutIsStoredAndHandedToTheRunnerWithItsClaim() async throws {
        let dir = TemporaryDirectory()
        try Self.submit(dir, [Self.line("bounded", timeout: 2.5), Self.line("free")])
        let store = try JobQueue(path: dir.databasePath, runnerID: "r1")
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil)
        #expect(jobs.map(\.customID) == ["bounded", "free"])
        #expect(jobs.map(\.timeout) == [2.5, nil])
    }
}
