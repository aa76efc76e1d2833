import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting
import ChoreoAI

/// An actor owning a connection and a `WriteBatcher`, as `JobQueue` does. Write `n` inserts row
/// `|n|` and returns `2n`; a negative `n` inserts its row, then fails on a duplicate key, so its
/// savepoint must undo its first insert.
private actor Ledger {
    let db: Database
    let writes: WriteBatcher<Int, Int>

    init(path: String) throws {
        let db = try Database(path: path)
        try db.execute("CREATE TABLE ledger (n INTEGER PRIMARY KEY)")
        self.db = db
        self.writes = WriteBatcher(db: db) { n in
            try db.run("INSERT INTO ledger (n) VALUES (?)", [.init(abs(n))])
            if n < 0 { try db.run("INSERT INTO ledger (n) VALUES (?)", [.init(abs(n))]) }
            return 2 * n
        }
    }

    /// Starts one task per write while holding the actor: the tasks are isolated to it, so they
    /// are all queued on it before the first one runs, and must form one group.
    func burst(_ values: [Int]) async -> [Result<Int, any Error>] {
        let tasks = values.map { n in Task { try await self.writes.submit(n, isolation: self) } }
        var results: [Result<Int, any Error>] = []
        for task in tasks { results.append(await task.result) }
        return results
    }

    func one(_ n: Int) async throws -> Int { try await writes.submit(n, isolation: self) }

    /// As `burst`, each task bringing several writes in one call.
    func burst(calls: [[Int]]) async -> [[Result<Int, any Error>]] {
        let tasks = calls.map { ns in Task { await self.writes.submit(ns, isolation: self) } }
        var results: [[Result<Int, any Error>]] = []
        for task in tasks { results.append(await task.value) }
        return results
    }

    var stats: WriteBatcher<Int, Int>.Stats { writes.stats }
    var isInTransaction: Bool { db.isInTransaction }
    func failWhenBusy() throws { try db.execute("PRAGMA busy_timeout = 0") }
    func rows() throws -> [Int] {
        var out: [Int] = []
        try db.query("SELECT n FROM ledger ORDER BY n") { out.append($0.int(0)!) }
        return out
    }
}

extension JobQueue {
    /// Starts one task per success while holding the queue: the tasks are isolated to it, so they
    /// are all queued on its database thread before the first one runs. Each calls the queue's own
    /// `complete`: `JobStore`'s one-job `complete(job:)` is nonisolated, so a task calling it would
    /// leave for the shared pool and come back to the queue whenever that pool got to it.
    func completeInTasks(_ successes: [JobSuccess]) async -> [Bool?] {
        let tasks = successes.map { s in Task { try await self.complete([s])[0].get() } }
        var held: [Bool?] = []
        for task in tasks { held.append(try? await task.value) }
        return held
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    @Test func writesQueuedTogetherCommitInOneTransactionWithTheirOwnResults() async throws {
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.file("ledger.sqlite"))
        let values = Array(1...40)
        let results = await ledger.burst(values)
        #expect(results.map { try? $0.get() } == values.map { 2 * $0 })
        #expect(await ledger.stats == .init(transactions: 1, writes: 40, largestGroup: 40))
        #expect(try await ledger.rows() == values)
    }

    @Test func aFailingWriteIsUndoneAloneAndTheOthersOfItsGroupCommit() async throws {
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.file("ledger.sqlite"))
        let results = await ledger.burst([1, 2, -3, 4, -5, 6])
        // Run once without savepoints, rolled back at the first failure, and once with one a write.
        #expect(await ledger.stats == .init(transactions: 1, writes: 6, largestGroup: 6, reruns: 1))
        for (n, result) in zip([1, 2, -3, 4, -5, 6], results) {
            switch result {
            case .success(let value): #expect(n > 0 && value == 2 * n)
            case .failure(let error): #expect(n < 0 && (error as? SQLiteError)?.code.primary == .constraint)
            }
        }
        // The failed writes' first inserts were rolled back with them; nobody else's was.
        #expect(try await ledger.rows() == [1, 2, 4, 6])
        // The connection is usable afterwards, outside any transaction.
        #expect(try await ledger.one(7) == 14)
        #expect(await ledger.isInTransaction == false)
    }

    @Test func severalWritesOfOneCallJoinTheGroupAndEachGetsItsOwnResultInOrder() async throws {
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.file("ledger.sqlite"))
        // Callers of one write and of several, interleaved; two of the writes fail.
        let calls = [[1, 2, 3], [4], [5, -6, 7], [], [8], [9, 10, 11, 12], [-13]]
        let results = await ledger.burst(calls: calls)
        #expect(results.map(\.count) == calls.map(\.count))
        for (call, got) in zip(calls, results) {
            for (n, result) in zip(call, got) {
                switch result {
                case .success(let value): #expect(n > 0 && value == 2 * n, "write \(n)")
                case .failure(let error): #expect(n < 0 && (error as? SQLiteError)?.code.primary == .constraint, "write \(n)")
                }
            }
        }
        // One group for all of them (run again with savepoints for the failures).
        #expect(await ledger.stats == .init(transactions: 1, writes: 13, largestGroup: 13, reruns: 1))
        #expect(try await ledger.rows() == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12])
        // A lone caller of several writes leads a group of its own.
        #expect(await ledger.burst(calls: [[20, 21]]).map { $0.map { try? $0.get() } } == [[40, 42]])
        #expect(await ledger.stats.transactions == 2)
    }

    @Test func aLoneWriteCommitsAtOnce() async throws {
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.file("ledger.sqlite"))
        for n in 1...5 { #expect(try await ledger.one(n) == 2 * n) }
        #expect(await ledger.stats == .init(transactions: 5, writes: 5, largestGroup: 1))
    }

    @Test func aFailedTransactionFailsEveryWriteOfItsGroupAndWritesNothing() async throws {
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.file("ledger.sqlite"))
        // Another connection holds the write lock: BEGIN IMMEDIATE fails once the busy timeout ends.
        let other = try Database(path: dir.file("ledger.sqlite"))
        try other.execute("PRAGMA busy_timeout = 0")
        try other.execute("BEGIN IMMEDIATE")
        try await ledger.failWhenBusy()
        let results = await ledger.burst([1, 2, 3])
        #expect(results.allSatisfy { (try? $0.get()) == nil })
        try other.execute("ROLLBACK")
        #expect(try await ledger.rows() == [])
        #expect(try await ledger.one(4) == 8)
        #expect(try await ledger.rows() == [4])
    }

    // MARK: JobQueue

    /// A batch of `count` jobs, all claimed by runner "r1" with a fresh attempt each.
    private func startedJobs(_ dir: TemporaryDirectory, count: Int) async throws -> (JobQueue, [Int64: Int]) {
        let path = dir.write("jobs.jsonl", lines: (0..<count).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let queue = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r1")
        let jobs = try await queue.claim(limit: count, leaseSeconds: 600, batch: nil)
        #expect(jobs.count == count)
        let attempts = try await withThrowingTaskGroup(of: (Int64, Int).self) { group in
            for job in jobs { group.addTask { (job.id, try await queue.startAttempt(job: job.id, continuedFromChars: nil)) } }
            return try await group.reduce(into: [Int64: Int]()) { $0[$1.0] = $1.1 }
        }
        return (queue, attempts)
    }

    private func outcome(_ text: String) -> JobOutcome {
        JobOutcome(output: text, toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
                   promptTokens: 3, completionTokens: 2, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: nil,
                   bytesReceived: 10, charsReceived: text.count)
    }

    @Test func concurrentCompletesAreGroupedAndALostLeaseAffectsOnlyItsJob() async throws {
        let dir = TemporaryDirectory()
        let (queue, attempts) = try await startedJobs(dir, count: 48)
        #expect(attempts.count == 48 && attempts.values.allSatisfy { $0 == 1 })
        let ids = attempts.keys.sorted()
        // Another runner takes one job (as if our lease had expired).
        let stolen = ids[17]
        let other = try dir.database()
        try other.run("UPDATE jobs SET lease_owner = 'r2' WHERE id = ?", [.init(stolen)])

        let held = try await withThrowingTaskGroup(of: (Int64, Bool).self) { group in
            for id in ids {
                group.addTask { (id, try await queue.complete(job: id, attempt: 1, outcome: self.outcome("out \(id)"))) }
            }
            return try await group.reduce(into: [Int64: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(held.filter { !$0.value }.map(\.key) == [stolen])
        #expect(held.count == 48)

        let stats = await queue.groupCommitStats
        #expect(stats.writes == 96)
        #expect(stats.transactions < stats.writes)
        #expect(try other.count("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'out ' || id AND lease_owner IS NULL") == 47)
        #expect(try other.count("SELECT count(*) FROM jobs WHERE id = ? AND state = 'running' AND lease_owner = 'r2' AND output IS NULL", [.init(stolen)]) == 1)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND ended_at IS NOT NULL") == 47)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ? AND outcome = 'lease_lost'", [.init(stolen)]) == 1)
    }

    /// A leader yields the database's thread only when callers wait for it: a lone write commits at
    /// once (a yield cost its task two hops between threads), and writes queued behind a leader
    /// still join its group.
    @Test func aLeaderYieldsOnlyWhenOtherCallersWaitForTheDatabasesThread() async throws {
        let dir = TemporaryDirectory()
        let (queue, attempts) = try await startedJobs(dir, count: 40)
        let ids = attempts.keys.sorted()
        let yields = await queue.groupCommitYields
        #expect(try await queue.complete(job: ids[0], attempt: 1, outcome: outcome("alone")))
        #expect(await queue.groupCommitYields == yields, "a lone write yielded")
        // The others, each from a task of its own queued on the database's thread before the first runs.
        let before = await queue.groupCommitStats
        let held = await queue.completeInTasks(ids.dropFirst().map { JobSuccess(job: $0, attempt: 1, outcome: outcome("out")) })
        #expect(held == Array(repeating: true, count: 39))
        let after = await queue.groupCommitStats
        #expect(after.writes - before.writes == 39)
        #expect(after.transactions - before.transactions == 1)
        #expect(await queue.groupCommitYields > yields)
    }

    @Test func answersWrittenInOneCallShareATransactionAndALostLeaseAffectsOnlyItsJob() async throws {
        let dir = TemporaryDirectory()
        let (queue, attempts) = try await startedJobs(dir, count: 24)
        let ids = attempts.keys.sorted()
        let stolen = ids[5]
        let other = try dir.database()
        try other.run("UPDATE jobs SET lease_owner = 'r2' WHERE id = ?", [.init(stolen)])
        let before = await queue.groupCommitStats
        let written = await queue.complete(ids.map { JobSuccess(job: $0, attempt: 1, outcome: outcome("out \($0)")) })
        #expect(written.map { try? $0.get() } == ids.map { $0 != stolen })
        let after = await queue.groupCommitStats
        #expect(after.transactions == before.transactions + 1)
        #expect(after.writes == before.writes + 24)
        #expect(try other.count("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'out ' || id") == 23)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ? AND outcome = 'lease_lost'", [.init(stolen)]) == 1)
        #expect(await queue.complete([]).isEmpty)
    }

    @Test func startsOfOneCallShareATransactionAndALostLeaseFailsOnlyItsJob() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<24).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let queue = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r1")
        let ids = try await queue.claim(limit: 24, leaseSeconds: 600, batch: nil).map(\.id)
        let stolen = ids[7]
        let other = try dir.database()
        try other.run("UPDATE jobs SET lease_owner = 'r2' WHERE id = ?", [.init(stolen)])
        let before = await queue.groupCommitStats
        let continued = AttemptContinuation(method: "prefill", reason: "kept text")
        let started = await queue.startAttempts(ids.map { AttemptStart(job: $0, continuedFromChars: $0 == ids[0] ? 12 : nil,
                                                                        continuation: $0 == ids[0] ? continued : nil) })
        #expect(started.map { try? $0.get() } == ids.map { $0 == stolen ? nil : 1 })
        #expect(throws: LeaseLost.self) { try started[7].get() }
        let after = await queue.groupCommitStats
        #expect(after.transactions == before.transactions + 1)
        #expect(after.writes == before.writes + 24)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE number = 1") == 23)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ?", [.init(stolen)]) == 0)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ? AND continued_from_chars = 12 AND continuation = 'prefill'",
                                [.init(ids[0])]) == 1)
        #expect(await queue.startAttempts([]).isEmpty)
    }

    @Test func aStartWithoutTheLeaseThrowsLeaseLostAndWritesNothing() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [batchLine("fresh"), batchLine("tried")])
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let queue = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r1")
        let jobs = try await queue.claim(limit: 2, leaseSeconds: 600, batch: nil)
        let fresh = try #require(jobs.first { $0.customID == "fresh" }).id
        let tried = try #require(jobs.first { $0.customID == "tried" }).id
        #expect(try await queue.startAttempt(job: tried, continuedFromChars: nil) == 1)
        // Another runner takes both jobs (as if our leases had expired) before it starts them.
        let other = try dir.database()
        try other.run("UPDATE jobs SET lease_owner = 'r2'")
        for job in [fresh, tried] {
            await #expect(throws: LeaseLost.self) { try await queue.startAttempt(job: job, continuedFromChars: nil) }
        }
        // Neither a made-up attempt 0 for the fresh job nor a clash with attempt 1 of the other.
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ?", [.init(fresh)]) == 0)
        #expect(try other.count("SELECT count(*) FROM attempts WHERE job_id = ?", [.init(tried)]) == 1)
        #expect(try other.count("SELECT sum(attempts) FROM jobs") == 1)
    }

    @Test func aFailingStartThrowsToItsCallerOnly() async throws {
        let dir = TemporaryDirectory()
        let (queue, _) = try await startedJobs(dir, count: 4)
        // Second attempts for the four jobs, and one for a job that does not exist (not leased to
        // this runner, so nothing is written for it), all at once.
        let ids: [Int64] = [1, 2, 999_999, 3, 4]
        let results = await withTaskGroup(of: (Int64, Result<Int, any Error>).self) { group in
            for id in ids {
                group.addTask {
                    do { return (id, .success(try await queue.startAttempt(job: id, continuedFromChars: 5))) } catch { return (id, .failure(error)) }
                }
            }
            return await group.reduce(into: [Int64: Result<Int, any Error>]()) { $0[$1.0] = $1.1 }
        }
        for id in ids {
            if id == 999_999 {
                #expect((try? results[id]!.get()) == nil)
            } else {
                #expect((try? results[id]!.get()) == 2)
            }
        }
        let db = try dir.database()
        #expect(try db.count("SELECT count(*) FROM attempts WHERE number = 2 AND continued_from_chars = 5") == 4)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE attempts = 2") == 4)
        #expect(try db.count("SELECT count(*) FROM attempts WHERE job_id = 999999") == 0)

        // Ending them (one retry, one failure, the rest cancelled), with a partial flush among them.
        let failure = AttemptFailure(kind: "server_error", message: "boom", httpStatus: 500, requestID: nil, bytesReceived: 1,
                                     charsReceived: 1, keptPartial: "par", keptPartialTokens: 1, spentPromptTokens: 0, receivedText: "p")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await queue.endAttempt(job: 1, attempt: 2, failure: failure, outcome: .retry, retryAt: 0) }
            group.addTask { try await queue.endAttempt(job: 2, attempt: 2, failure: failure, outcome: .failed, retryAt: nil) }
            group.addTask { try await queue.savePartials([PartialText(job: 3, text: "abc", tokens: 1, choices: nil), PartialText(job: 4, text: "de", tokens: 1, choices: nil)]) }
            group.addTask { try await queue.endAttempt(job: 3, attempt: 2, failure: failure, outcome: .cancelled, retryAt: nil, finalState: .cancelled) }
            try await group.waitForAll()
        }
        #expect(try db.count("SELECT count(*) FROM jobs WHERE id = 1 AND state = 'pending' AND not_before = 0 AND lease_owner IS NULL AND partial_output = 'par'") == 1)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE id = 2 AND state = 'failed' AND error_kind = 'server_error' AND finished_at IS NOT NULL") == 1)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE id = 3 AND state = 'cancelled'") == 1)
        #expect(try db.count("SELECT count(*) FROM partials WHERE job_id = 4 AND state = 'running' AND partial_output = 'de'") == 1)
        #expect(try db.count("SELECT count(*) FROM attempts WHERE number = 2 AND outcome IN ('retry', 'failed', 'cancelled') AND received_text = 'p'") == 3)
    }
}

/// The queue's statements run on a thread of its own, never on Swift's cooperative pool.
@Suite struct DatabaseThreadTests {
    @Test func everyQueueRunsItsStatementsOnItsOwnThread() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<4).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let a = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "a")
        let b = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "b")
        let aOwn = await a.isOnItsOwnThread(), bOwn = await b.isOnItsOwnThread()
        #expect(aOwn && bOwn)
        #expect(try await a.claim(limit: 2, leaseSeconds: 30, batch: nil).count == 2)
        #expect(try await b.claim(limit: 2, leaseSeconds: 30, batch: nil).count == 2)
    }

    /// Four queues wait for a write lock another connection holds (each up to its busy timeout).
    /// On the cooperative pool (two threads here) they would hold every thread, and the task that
    /// lets the lock go could not run until they gave up busy: each claim must get its jobs.
    @Test func statementsWaitingForALockLeaveSwiftsThreadsFree() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<8).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let holder = try dir.database()
        try holder.execute("BEGIN IMMEDIATE")
        let queues = try (0..<4).map { try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r\($0)", busyTimeout: 10) }
        let claims = queues.map { q in Task { try await q.claim(limit: 2, leaseSeconds: 30, batch: nil).count } }
        // Let go of the lock from this task, on the cooperative pool, once every claim has had
        // time to begin waiting (the busy timeout is far longer than this).
        for _ in 0..<20 { await Task.yield() }
        try holder.execute("COMMIT")
        for claim in claims { #expect(try await claim.value == 2) }
    }
}

/// The per-batch times `status` reads (`batches.started_at`, `last_finished_at`, kept by a trigger).
@Suite struct BatchTimesTests {
    @Test func cancellingJobsThatNeverStartedKeepsTheBatchsStartAndAClaimKeepsItsLastFinish() async throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<3).map { batchLine("j\($0)") })
        let batch = try BatchSubmitter(database: try dir.database()).submit(file: path).batchID
        let queue = try JobQueue(path: dir.file("choreo.sqlite"), runnerID: "r")
        let job = try #require(try await queue.claim(limit: 1, leaseSeconds: 30, batch: nil).first)
        let attempt = try await queue.startAttempt(job: job.id, continuedFromChars: nil)
        try await queue.complete(job: job.id, attempt: attempt, outcome: JobOutcome(
            output: "done", toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}", promptTokens: 1,
            completionTokens: 1, firstTokenMs: 1, durationMs: 1, httpStatus: 200, requestID: nil, bytesReceived: 1, charsReceived: 4))
        let db = try dir.database()
        func times() throws -> (Double?, Double?) {
            try db.queryOne("SELECT started_at, last_finished_at FROM batches WHERE id = ?", [.text(batch)]) { ($0.double(0), $0.double(1)) }!
        }
        let (started, finished) = try times()
        #expect(started != nil && finished != nil)
        // Claiming the next job (started, not finished) leaves the last finish alone.
        _ = try await queue.claim(limit: 1, leaseSeconds: 30, batch: nil)
        #expect(try times().1 == finished)
        // Cancelling the rest (finished, never started) leaves the start alone.
        _ = try db.cancelBatch(batch)
        #expect(try times().0 == started)
    }
}
