import Foundation
import ChoreoTesting
import Testing
@testable import ChoreoBatch
import ChoreoSQLite

/// Issue 12 part 3: a large submit commits in slices under a hidden batch, so runners keep
/// writing meanwhile and nobody sees half a batch.
@Suite("Sliced submit")
struct SlicedSubmitTests {
    /// Between slices the write lock is free, the rows are committed, and still no reader sees
    /// the batch; the last commit shows it whole.
    @Test func aBatchIsHiddenUntilItsLastSliceCommits() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (1...250).map { batchLine("j\($0)") })
        var submitter = BatchSubmitter(database: try dir.database())
        submitter.sliceLines = 100
        let other = try Database(path: dir.file("choreo.sqlite"), busyTimeout: 0)
        var seen: [Int] = []
        submitter.afterSlice = { lines in
            seen.append(lines)
            // Another writer gets the lock at once (busy timeout 0): the submit holds it only per slice.
            try other.transaction(.immediate) {}
            #expect(try other.count("SELECT count(*) FROM jobs") == lines)
            #expect(try BatchStatus.loadAll(other).isEmpty)
            #expect(try JobFigures(other, batch: nil).jobs.values.reduce(0, +) == 0)
            let hidden = try #require(try other.queryOne("SELECT id FROM batches") { $0.string(0) } ?? nil)
            #expect(throws: LookupError.self) { try other.batchID(matching: hidden) }
            // A live submit is not mistaken for an abandoned one.
            #expect(try other.removeAbandonedSubmits().isEmpty)
        }
        let result = try submitter.submit(file: path)
        #expect(seen == [100, 200])
        #expect(result.jobCount == 250)
        #expect(try BatchStatus.loadAll(other).map(\.id) == [result.batchID])
        #expect(try other.count("SELECT count(*) FROM batches WHERE state = 'pending' AND submitter IS NULL AND total_jobs = 250") == 1)
    }

    /// A file rejected after some slices committed leaves nothing behind.
    @Test func aRejectedFileLeavesNoSlice() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (1...250).map { batchLine("j\($0)") } + ["{not json"])
        let db = try dir.database()
        var submitter = BatchSubmitter(database: db)
        submitter.sliceLines = 100
        #expect(throws: JobFileError.self) { try submitter.submit(file: path) }
        #expect(try db.count("SELECT count(*) FROM batches") == 0)
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
    }

    /// A hidden batch is abandoned when its process is gone, or (another host, a reused pid) when
    /// its heartbeat is old; a fresh one from another host stays.
    @Test func abandonedHiddenBatchesAreRemovedAndLiveOnesKept() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName
        func hidden(_ id: String, pid: Int, host: String, heartbeat: Double) throws {
            try db.run("INSERT INTO batches (id, created_at, state, submitter, submit_heartbeat_at) VALUES (?, ?, 'submitting', ?, ?)",
                       [.text(id), .real(now), .text(#"{"pid":\#(pid),"host":"\#(host)"}"#), .real(heartbeat)])
            try db.run("INSERT INTO jobs (batch_id, custom_id, line, model, created_at) VALUES (?, 'x', 1, 'm', ?)",
                       [.text(id), .real(now)])
            try db.run("INSERT INTO job_requests (job_id, request) VALUES (last_insert_rowid(), '{}')")
        }
        // A pid far above any pid_max: no such process.
        try hidden("dead", pid: 999_999_999, host: host, heartbeat: now)
        try hidden("alive", pid: Int(getpid()), host: host, heartbeat: now)
        try hidden("elsewhere", pid: 1, host: "another-host.invalid", heartbeat: now)
        try hidden("stale", pid: 1, host: "another-host.invalid", heartbeat: now - 2 * Database.abandonedSubmitAge)
        #expect(try Set(db.removeAbandonedSubmits()) == ["dead", "stale"])
        var left: [String] = []
        try db.query("SELECT batch_id FROM jobs ORDER BY batch_id") { left.append($0.string(0) ?? "") }
        #expect(left == ["alive", "elsewhere"])
        // The removed jobs' requests went with them (schema 19: a table of their own).
        #expect(try db.count("SELECT count(*) FROM job_requests WHERE job_id NOT IN (SELECT id FROM jobs)") == 0)
        #expect(try db.count("SELECT count(*) FROM job_requests") == 2)
    }

    /// Version 4 adds the `submitting` state to the CHECK on `batches.state` in place: a version-3
    /// database keeps its batches and jobs, and the very connection that migrated it (and any
    /// other) accepts the new state and still refuses a bogus one.
    @Test func aVersion3DatabaseKeepsItsJobsAndLearnsTheHiddenState() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (1...20).map { batchLine("j\($0)") })
        let batch = try BatchSubmitter(database: try dir.database()).submit(file: path).batchID
        do {
            let raw = try Database(path: dir.file("choreo.sqlite"), readOnly: false, migrate: false)
            try raw.execute(OldSchema.version3)
        }
        do {
            let old = try Database(path: dir.file("choreo.sqlite"), readOnly: false, migrate: false)
            #expect(throws: SQLiteError.self) { try old.run("UPDATE batches SET state = 'submitting'") }
        }
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE batch_id = ?", [.text(batch)]) == 20)
        #expect(try db.queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
        try db.run("UPDATE batches SET state = 'submitting' WHERE id = ?", [.text(batch)])
        #expect(throws: SQLiteError.self) { try db.run("UPDATE batches SET state = 'bogus'") }
        let other = try dir.database()
        try other.run("UPDATE batches SET state = 'pending' WHERE id = ?", [.text(batch)])
        #expect(throws: SQLiteError.self) { try other.run("UPDATE batches SET state = 'bogus'") }
    }

    /// A submit stopped so long that a writer took its batch for abandoned must not make a
    /// half-deleted batch visible when it resumes: its last commit finds the batch disowned.
    @Test func aSubmitWhoseBatchWasDisownedStoresNothing() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (1...250).map { batchLine("j\($0)") })
        var submitter = BatchSubmitter(database: try dir.database())
        submitter.sliceLines = 100
        let other = try dir.database()
        submitter.afterSlice = { lines in
            // What `removeAbandonedSubmits` does first, as if this process had been gone for long.
            if lines == 100 { try other.run("UPDATE batches SET submitter = NULL, submit_heartbeat_at = 0") }
        }
        #expect(throws: JobFileReadError.self) { try submitter.submit(file: path) }
        // It deletes what it wrote, as a failed submit does.
        #expect(try BatchStatus.loadAll(other).isEmpty)
        #expect(try other.count("SELECT count(*) FROM batches") == 0)
        #expect(try other.count("SELECT count(*) FROM jobs") == 0)
    }
}
