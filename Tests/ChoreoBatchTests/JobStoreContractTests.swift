import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoAI
import ChoreoPostgres
import ChoreoSQLite
import ChoreoTesting
import ChoreoAI

/// A kind of `JobStore` the contract tests run against. Each test submits its jobs, then talks to
/// the store only through the protocol (and checks what it wrote with `StorePlace.read`, SQL that
/// means the same on both databases), so a new backend joins by adding a case here.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible {
    case sqlite
    /// A fresh database on the test process's PostgreSQL cluster (`PostgresServer`).
    case postgres

    var testDescription: String { rawValue }

    /// The backends this machine tests: PostgreSQL only where it is installed (never skipped in
    /// CI), with the reason printed once when it is left out.
    static let tested: [StoreBackend] = {
        guard let reason = PostgresServer.skipReason else { return allCases }
        print("JobStore contract tests: skipping the PostgreSQL backend: \(reason)")
        return [.sqlite]
    }()

    /// A place holding a fresh store with `jobs` pending jobs in one batch (`lines` instead, when given).
    func place(jobs: Int, lines: [String]? = nil) throws -> StorePlace {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: lines ?? (0..<jobs).map { batchLine("j\($0)") })
        switch self {
        case .sqlite:
            let batch = try BatchSubmitter(database: try dir.database()).submit(file: path).batchID
            return StorePlace(batch: batch, keepAlive: dir, location: .sqlite(path: dir.databasePath), open: { try JobQueue(path: dir.databasePath, runnerID: $0) },
                              read: { sql, arguments in
                                  try dir.database().queryOne(sql, arguments.map { .text($0) }) { $0.string(0) } ?? nil
                              },
                              execute: { sql in try dir.database().execute(sql) })
        case .postgres:
            let database = try PostgresServer.shared.get().createDatabase()
            let url = try PostgresURL(database.url)
            let batch = try PostgresBatchSubmitter(url: url).submit(file: path).batchID
            return StorePlace(batch: batch, keepAlive: [dir, database], location: .postgres(url), open: { try PostgresJobStore(url: url, runnerID: $0) },
                              read: { sql, arguments in
                                  try database.connect().queryOne(sql, arguments.map { .init($0) }) { $0.string(0) } ?? nil
                              },
                              execute: { sql in try database.connect().execute(sql) })
        }
    }
}

/// The storage of one test: opens a store for each runner, all sharing the same jobs.
struct StorePlace {
    /// The batch the jobs were submitted in.
    let batch: String
    /// Kept alive (and removed) with the place: the folder, the database.
    let keepAlive: Any
    /// Where the jobs are: what `--db` would name (the commands' `BatchStore` opens there).
    let location: StoreLocation
    let open: (String) throws -> any JobStore
    /// The first column of the first row of `sql` as text (`$1`, `$2`… bound to `arguments`), nil
    /// when there is none. The SQL must read the same on SQLite and PostgreSQL: counts rather
    /// than booleans (`1` on one, `t` on the other).
    let read: (_ sql: String, _ arguments: [String]) throws -> String?
    /// Runs SQL the store offers no requirement for (cancelling a batch, as `choreo cancel` does).
    let execute: (String) throws -> Void

    func runner(_ id: String) throws -> any JobStore { try open(id) }

    func count(_ sql: String, _ arguments: [String] = []) throws -> Int { try read(sql, arguments).flatMap { Int($0) } ?? -1 }
}

@Suite("The JobStore contract")
struct JobStoreContractTests {
    private func failure(kept: String?) -> AttemptFailure {
        AttemptFailure(kind: "interrupted", message: "the stream was cut", httpStatus: 200, requestID: nil, bytesReceived: 10,
                       charsReceived: kept?.count ?? 0, keptPartial: nil, keptPartialTokens: 0, spentPromptTokens: 4,
                       receivedText: kept)
    }

    private func outcome(_ text: String) -> JobOutcome {
        JobOutcome(output: text, toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
                   promptTokens: 3, completionTokens: 2, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: nil,
                   bytesReceived: 10, charsReceived: text.count)
    }

    @Test(arguments: StoreBackend.tested)
    func twoRunnersClaimingAtOnceNeverLeaseTheSameJob(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 60)
        let runners = [try place.runner("r1"), try place.runner("r2"), try place.runner("r3")]
        // Each runner claims small batches as fast as it can until the queue is empty.
        // Results arrive in the order the runners finish: keep each with its runner's index.
        let taken = try await withThrowingTaskGroup(of: (Int, [Int64]).self) { group in
            for (i, store) in runners.enumerated() {
                group.addTask {
                    var mine: [Int64] = []
                    while true {
                        let jobs = try await store.claim(limit: 7, leaseSeconds: 600, batch: nil)
                        if jobs.isEmpty { return (i, mine) }
                        mine += jobs.map(\.id)
                    }
                }
            }
            return try await group.reduce(into: [[Int64]](repeating: [], count: runners.count)) { $0[$1.0] = $1.1 }
        }
        let all = taken.flatMap { $0 }
        #expect(all.count == 60)
        #expect(Set(all).count == 60, "a job was leased to two runners")
        let outlook = try await runners[0].outlook(batch: nil)
        #expect(outlook.pending == 0)
        #expect(outlook.heldByOthers == taken[1].count + taken[2].count)
    }

    @Test(arguments: StoreBackend.tested)
    func anExpiredLeaseIsTakenOverAndItsOldOwnerCanWriteNothingMore(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 1)
        let first = try place.runner("r1"), second = try place.runner("r2")
        // A lease that is over as soon as it is taken: as if r1 had stopped renewing it.
        let job = try #require(try await first.claim(limit: 1, leaseSeconds: -1, batch: nil).first)
        #expect(try await first.startAttempt(job: job.id, continuedFromChars: nil) == 1)
        // Its own expired lease is not taken back by r1 (the job is still in flight there).
        #expect(try await first.claim(limit: 1, leaseSeconds: 600, batch: nil).isEmpty)

        let taken = try await second.claim(limit: 1, leaseSeconds: 600, batch: nil)
        #expect(taken.map(\.id) == [job.id])
        #expect(taken.first?.attempts == 1)
        await #expect(throws: LeaseLost.self) { try await first.startAttempt(job: job.id, continuedFromChars: nil) }
        try await first.savePartials([PartialText(job: job.id, text: "late text from r1", tokens: 3, choices: nil)])
        #expect(try await first.complete(job: job.id, attempt: 1, outcome: outcome("r1's answer")) == false)
        #expect(try place.count("SELECT count(*) FROM partials WHERE job_id = $1 AND partial_output IS NULL", ["\(job.id)"]) == 1,
                "r1 wrote text into a job it no longer holds")

        #expect(try await second.startAttempt(job: job.id, continuedFromChars: nil) == 2)
        #expect(try await second.complete(job: job.id, attempt: 2, outcome: outcome("r2's answer")))
        #expect(try await second.counts(batch: nil) == ["succeeded": 1])
        #expect(try place.read("SELECT output FROM jobs WHERE id = $1", ["\(job.id)"]) == "r2's answer")
    }

    /// An attempt that failed on a runner whose lease passed meanwhile (a runner cut off from the
    /// database, found by the netns soak): its end is written as `lease_lost`, with what it
    /// received and paid, and the job stays the new owner's. It used to be written as the
    /// runner's `retry` over the new owner's note that the runner was gone.
    @Test(arguments: StoreBackend.tested)
    func anAttemptEndedAfterItsLeasePassedIsWrittenAsLeaseLostAndLeavesTheJobToItsOwner(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 1)
        let first = try place.runner("r1"), second = try place.runner("r2")
        let job = try #require(try await first.claim(limit: 1, leaseSeconds: -1, batch: nil).first)
        #expect(try await first.startAttempt(job: job.id, continuedFromChars: nil) == 1)
        #expect(try await second.claim(limit: 1, leaseSeconds: 600, batch: nil).map(\.id) == [job.id])
        #expect(try await second.startAttempt(job: job.id, continuedFromChars: nil) == 2)

        try await first.endAttempt(job: job.id, attempt: 1, failure: failure(kept: "text r1 received"), outcome: .retry,
                                   retryAt: 0, finalState: .failed, countsAsAttempt: true)
        #expect(try place.read("SELECT outcome FROM attempts WHERE job_id = $1 AND number = 1", ["\(job.id)"]) == "lease_lost")
        #expect(try place.read("SELECT error_kind FROM attempts WHERE job_id = $1 AND number = 1", ["\(job.id)"]) == "lease_lost")
        #expect(try place.read("SELECT received_text FROM attempts WHERE job_id = $1 AND number = 1", ["\(job.id)"]) == "text r1 received")
        #expect(try place.count("SELECT count(*) FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = 'r2'", ["\(job.id)"]) == 1)
        #expect(try place.count("SELECT count(*) FROM attempts WHERE job_id = $1 AND number = 2 AND ended_at IS NULL", ["\(job.id)"]) == 1)
        #expect(try await second.complete(job: job.id, attempt: 2, outcome: outcome("r2's answer")))
        #expect(try await second.counts(batch: nil) == ["succeeded": 1])
    }

    /// An attempt's end is written with when it ended, not when the database took the write (a
    /// write can wait for a busy or unreachable database): the attempt history, and the soak's
    /// check that no two runners' attempts at a job overlap, read the real end.
    /// Starts, successes and failed attempts of many jobs arriving at once (which a store commits
    /// in groups), one of the jobs taken by another runner in between: every other job is written
    /// as its own write says, the taken one is left to its new owner, and the counters agree.
    @Test(arguments: StoreBackend.tested)
    func writesOfManyJobsArrivingTogetherEachLandAndALostLeaseTouchesOnlyItsJob(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 40)
        let store = try place.runner("r1"), other = try place.runner("r2")
        let ids = try await store.claim(limit: 40, leaseSeconds: 600, batch: nil).map(\.id).sorted()
        #expect(ids.count == 40)
        let numbers = try await withThrowingTaskGroup(of: (Int64, Int).self) { group in
            for id in ids { group.addTask { (id, try await store.startAttempt(job: id, continuedFromChars: nil)) } }
            return try await group.reduce(into: [Int64: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(numbers.count == 40 && numbers.values.allSatisfy { $0 == 1 })
        // r2 takes job 8 (as if r1's lease had expired).
        let stolen = ids[7]
        try place.execute("UPDATE jobs SET lease_expires_at = 0 WHERE id = \(stolen)")
        #expect(try await other.claim(limit: 1, leaseSeconds: 600, batch: nil).map(\.id) == [stolen])

        // Even ids succeed, every third odd one fails for good, the other odd ones go back to the queue.
        let retried = ids.filter { $0 % 2 == 1 && $0 % 3 != 0 }, failed = ids.filter { $0 % 2 == 1 && $0 % 3 == 0 }
        let held = try await withThrowingTaskGroup(of: (Int64, Bool).self) { group in
            for id in ids {
                group.addTask {
                    if id % 2 == 0 { return (id, try await store.complete(job: id, attempt: 1, outcome: self.outcome("out \(id)"))) }
                    var f = self.failure(kept: "kept \(id)")
                    f.keptPartial = "kept \(id)"
                    try await store.endAttempt(job: id, attempt: 1, failure: f, outcome: id % 3 == 0 ? .failed : .retry,
                                               retryAt: id % 3 == 0 ? nil : 0)
                    return (id, true)
                }
            }
            return try await group.reduce(into: [Int64: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(held.count == 40)
        for id in ids where id % 2 == 0 { #expect(held[id] == (id != stolen), "job \(id)") }

        let succeeded = ids.filter { $0 % 2 == 0 && $0 != stolen }
        let stolenFailed = failed.contains(stolen), stolenRetried = retried.contains(stolen)
        #expect(try place.count("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'out ' || id AND lease_owner IS NULL")
                == succeeded.count)
        #expect(try place.count("SELECT count(*) FROM partials WHERE state = 'pending' AND partial_output = 'kept ' || job_id")
                == retried.count - (stolenRetried ? 1 : 0))
        #expect(try place.count("SELECT count(*) FROM jobs WHERE state = 'failed' AND finished_at IS NOT NULL")
                == failed.count - (stolenFailed ? 1 : 0))
        #expect(try place.count("SELECT count(*) FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = 'r2'", ["\(stolen)"]) == 1)
        #expect(try place.read("SELECT outcome FROM attempts WHERE job_id = $1 AND number = 1", ["\(stolen)"]) == "lease_lost")
        #expect(try place.count("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND ended_at IS NOT NULL") == succeeded.count)
        #expect(try place.count("SELECT count(*) FROM attempts") == 40)
        let counts = try await store.counts(batch: nil)
        #expect(counts["succeeded"] == succeeded.count)
        #expect(counts["running"] == 1)
        #expect(counts["failed"] == failed.count - (stolenFailed ? 1 : 0))
    }

    @Test(arguments: StoreBackend.tested)
    func startsOfOneCallEachGetTheirNumberAndALostLeaseFailsOnlyItsJob(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 12)
        let store = try place.runner("r1"), other = try place.runner("r2")
        let ids = try await store.claim(limit: 12, leaseSeconds: 600, batch: nil).map(\.id).sorted()
        let stolen = ids[4]
        try place.execute("UPDATE jobs SET lease_expires_at = 0 WHERE id = \(stolen)")
        #expect(try await other.claim(limit: 1, leaseSeconds: 600, batch: nil).map(\.id) == [stolen])
        // The first job's second attempt in the same call as the others' first.
        #expect(try await store.startAttempt(job: ids[0], continuedFromChars: nil) == 1)
        let started = await store.startAttempts(ids.map { AttemptStart(job: $0) })
        #expect(started.map { try? $0.get() } == ids.map { $0 == stolen ? nil : $0 == ids[0] ? 2 : 1 })
        #expect(throws: LeaseLost.self) { try started[4].get() }
        #expect(try place.count("SELECT count(*) FROM attempts") == 12)
        #expect(try place.count("SELECT count(*) FROM attempts WHERE job_id = $1", ["\(stolen)"]) == 0)
    }

    @Test(arguments: StoreBackend.tested)
    func anAttemptsEndIsWhenItEndedNotWhenItWasWritten(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 2)
        let store = try place.runner("r1")
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil).sorted { $0.id < $1.id }
        for job in jobs { #expect(try await store.startAttempt(job: job.id, continuedFromChars: nil) == 1) }
        var failure = failure(kept: "cut")
        failure.endedAt = 1_000_000_001.5
        try await store.endAttempt(job: jobs[0].id, attempt: 1, failure: failure, outcome: .retry, retryAt: 0,
                                   finalState: .failed, countsAsAttempt: true)
        var answer = outcome("whole")
        answer.endedAt = 1_000_000_002.5
        #expect(try await store.complete(job: jobs[1].id, attempt: 1, outcome: answer))
        #expect(try place.count("SELECT count(*) FROM attempts WHERE job_id = $1 AND ended_at = 1000000001.5", ["\(jobs[0].id)"]) == 1)
        #expect(try place.count("SELECT count(*) FROM attempts WHERE job_id = $1 AND ended_at = 1000000002.5", ["\(jobs[1].id)"]) == 1)
    }

    @Test(arguments: StoreBackend.tested)
    func flushedTextSurvivesACutAttemptAndComesBackWithTheNextClaim(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 2)
        let store = try place.runner("r1")
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil)
        #expect(jobs.count == 2)
        for job in jobs { _ = try await store.startAttempt(job: job.id, continuedFromChars: nil) }
        // One flush hands the store both jobs' text at once; the second flush only the first job's.
        try await store.savePartials(jobs.map { PartialText(job: $0.id, text: "Hello", tokens: 1, choices: nil) })
        try await store.savePartials([PartialText(job: jobs[0].id, text: "Hello, wor", tokens: 3, choices: nil)])
        for job in jobs {
            try await store.endAttempt(job: job.id, attempt: 1, failure: failure(kept: nil), outcome: .interrupted, retryAt: 0)
        }

        let again = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil).sorted { $0.id < $1.id }
        #expect(again.map(\.id) == jobs.map(\.id).sorted())
        let kept = Dictionary(uniqueKeysWithValues: again.map { ($0.id, ($0.partialOutput, $0.partialTokens, $0.attempts)) })
        #expect(kept[jobs[0].id]?.0 == "Hello, wor" && kept[jobs[0].id]?.1 == 3 && kept[jobs[0].id]?.2 == 1)
        #expect(kept[jobs[1].id]?.0 == "Hello" && kept[jobs[1].id]?.1 == 1 && kept[jobs[1].id]?.2 == 1)
    }

    /// A runner that died mid-stream (no attempt end, its lease run out) leaves the text it flushed
    /// to the runner that takes the job over, which continues from it. The texts come with heads
    /// (`PartialText.headBytes`, which SQLite keeps apart and PostgreSQL ignores): read whole either way.
    @Test(arguments: StoreBackend.tested)
    func aDeadRunnersFlushedTextComesBackWithTheClaimThatTakesItsJob(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 1)
        let dead = try place.runner("r1")
        let job = try #require(try await dead.claim(limit: 1, leaseSeconds: -1, batch: nil).first)
        _ = try await dead.startAttempt(job: job.id, continuedFromChars: nil)
        try await dead.savePartials([PartialText(job: job.id, text: "Once upon", tokens: 2, choices: nil, headBytes: 4)])
        #expect(try place.read("SELECT partial_output FROM partials WHERE job_id = $1", [String(job.id)]) == "Once upon")

        let heir = try place.runner("r2")
        let taken = try #require(try await heir.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        #expect(taken.id == job.id && taken.partialOutput == "Once upon" && taken.partialTokens == 2)
        let n = try await heir.startAttempt(job: taken.id, continuedFromChars: 9)
        try await heir.savePartials([PartialText(job: taken.id, text: "Once upon a", tokens: 3, choices: nil, headBytes: 9)])
        #expect(try await heir.savePartials([PartialText(job: taken.id, text: "Once upon a time", tokens: 4, choices: nil, headBytes: 9,
                                                         headStored: true)]).isEmpty)
        #expect(try place.read("SELECT partial_output FROM partials WHERE job_id = $1", [String(job.id)]) == "Once upon a time")
        try await heir.endAttempt(job: taken.id, attempt: n, failure: failure(kept: nil), outcome: .interrupted, retryAt: 0)
        let again = try #require(try await heir.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        #expect(again.partialOutput == "Once upon a time" && again.partialTokens == 4)
    }

    /// An answer of several choices (`n > 1`) keeps every choice's text: flushed, kept by a cut
    /// attempt's end, given back by an abandoned run, and gone once the job succeeds.
    @Test(arguments: StoreBackend.tested)
    func everyChoicesTextIsKeptBesideTheFirstAndGoesWithSuccess(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 2)
        let store = try place.runner("r1")
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil).sorted { $0.id < $1.id }
        for job in jobs { _ = try await store.startAttempt(job: job.id, continuedFromChars: nil) }
        let flushed = #"["Phobos","Deimos is"]"#, cut = #"["Phobos and","Deimos is small"]"#
        try await store.savePartials([PartialText(job: jobs[0].id, text: "Phobos", tokens: 1, choices: flushed),
                                      PartialText(job: jobs[1].id, text: "Hello", tokens: 1, choices: nil)])
        let choices = { (job: Int64) in try place.read("SELECT partial_choices FROM partials WHERE job_id = $1", [String(job)]) }
        #expect(try choices(jobs[0].id) == flushed)
        #expect(try choices(jobs[1].id) == nil)

        var f = failure(kept: "Phobos and")
        f.keptPartial = "Phobos and"
        f.keptChoices = cut
        try await store.endAttempt(job: jobs[0].id, attempt: 1, failure: f, outcome: .interrupted, retryAt: 0)
        #expect(try choices(jobs[0].id) == cut)
        // An attempt that kept nothing leaves the choices it had.
        let again = try #require(try await store.claim(limit: 2, leaseSeconds: 600, batch: nil).first { $0.id == jobs[0].id })
        _ = try await store.startAttempt(job: again.id, continuedFromChars: nil)
        try await store.endAttempt(job: again.id, attempt: 2, failure: failure(kept: nil), outcome: .interrupted, retryAt: 0)
        #expect(try choices(jobs[0].id) == cut)

        let last = try #require(try await store.claim(limit: 2, leaseSeconds: 600, batch: nil).first { $0.id == jobs[0].id })
        _ = try await store.startAttempt(job: last.id, continuedFromChars: nil)
        try store.abandon(partials: [PartialText(job: last.id, text: "Phobos", tokens: 1, choices: flushed)])
        #expect(try choices(jobs[0].id) == flushed)

        let winner = try place.runner("r2")
        let final = try #require(try await winner.claim(limit: 2, leaseSeconds: 600, batch: nil).first { $0.id == jobs[0].id })
        let n = try await winner.startAttempt(job: final.id, continuedFromChars: nil)
        _ = try await winner.complete(job: final.id, attempt: n, outcome: outcome("Phobos and Deimos."))
        #expect(try choices(jobs[0].id) == nil)
    }

    @Test(arguments: StoreBackend.tested)
    func anAbandonedRunKeepsTheTextReceivedAndGivesEveryJobBack(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 2)
        let store = try place.runner("r1")
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: nil)
        for job in jobs { _ = try await store.startAttempt(job: job.id, continuedFromChars: nil) }
        try store.abandon(partials: [PartialText(job: jobs[0].id, text: "Once upon", tokens: 2, choices: nil)])

        let other = try place.runner("r2")
        #expect(try await other.outlook(batch: nil).pending == 2)
        let again = try await other.claim(limit: 2, leaseSeconds: 600, batch: nil)
        #expect(again.map(\.id).sorted() == jobs.map(\.id).sorted())
        #expect(again.first { $0.id == jobs[0].id }?.partialOutput == "Once upon")
        #expect(again.first { $0.id == jobs[1].id }?.partialOutput == "")
        #expect(try place.count("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND ended_at IS NOT NULL") == 2)
    }

    /// Higher priority first, then oldest; a job whose runner died goes back in line by its
    /// priority; each job's own timeout comes with its claim.
    @Test(arguments: StoreBackend.tested)
    func claimsFollowPriorityThenAgeAndCarryTheJobsTimeout(_ backend: StoreBackend) async throws {
        func line(_ id: String, priority: Int?, timeout: Double? = nil) -> String {
            #"{"custom_id":"\#(id)","#
                + (priority.map { #""priority":\#($0),"# } ?? "") + (timeout.map { #""timeout":\#($0),"# } ?? "")
                + #""body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}}"#
        }
        let place = try backend.place(jobs: 0, lines: [line("low", priority: -1), line("plain", priority: nil),
                                                      line("high", priority: 5, timeout: 42), line("plain2", priority: nil)])
        let dying = try place.runner("dying"), store = try place.runner("r1")
        // A runner takes the highest one and dies: its lease expires at once.
        let first = try await dying.claim(limit: 1, leaseSeconds: -1, batch: nil)
        #expect(first.map(\.customID) == ["high"] && first.first?.timeout == 42)
        let order = try await store.claim(limit: 4, leaseSeconds: 600, batch: nil).map(\.customID)
        #expect(order == ["high", "plain", "plain2", "low"])
    }

    @Test(arguments: StoreBackend.tested)
    func releasedJobsGoBackToTheQueueUntouched(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 3)
        let store = try place.runner("r1"), other = try place.runner("r2")
        let jobs = try await store.claim(limit: 3, leaseSeconds: 600, batch: nil)
        #expect(try await other.outlook(batch: nil).heldByOthers == 3)
        try await store.release(job: jobs[0].id)
        #expect(try await other.outlook(batch: nil).pending == 1)
        try await store.releaseAll()
        let outlook = try await other.outlook(batch: nil)
        #expect(outlook.pending == 3 && outlook.heldByOthers == 0)
        let again = try await other.claim(limit: 3, leaseSeconds: 600, batch: nil)
        #expect(again.count == 3 && again.allSatisfy { $0.attempts == 0 && $0.partialOutput.isEmpty })
    }

    @Test(arguments: StoreBackend.tested)
    func aSucceededJobIsChargedAndCountedInItsBatchTotals(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 1)
        let store = try place.runner("r1")
        let job = try #require(try await store.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        let attempt = try await store.startAttempt(job: job.id, continuedFromChars: nil)
        var answer = outcome("the answer")
        answer.charge = AttemptCharge(usage: CompletionUsage(promptTokens: 3, completionTokens: 2), estimated: false, costUSD: 0.25)
        #expect(try await store.complete(job: job.id, attempt: attempt, outcome: answer))
        #expect(try await store.counts(batch: place.batch) == ["succeeded": 1])
        #expect(try place.count("SELECT count(*) FROM batch_costs WHERE attempts = 1 AND prompt_tokens = 3 AND cost_usd = 0.25") == 1)
        #expect(try place.count("SELECT count(*) FROM jobs WHERE cost_usd = 0.25 AND total_tokens = 5 AND finished_at IS NOT NULL") == 1)
        #expect(try place.count("SELECT sum(completion_tokens) FROM batch_counts WHERE state = 'succeeded'") == 2)
        #expect(try place.count("SELECT count(*) FROM batches WHERE started_at IS NOT NULL AND last_finished_at >= started_at") == 1)
        try await store.completeFinishedBatches()
        #expect(try place.read("SELECT state FROM batches", []) == "completed")
    }

    /// Every way an attempt ends writes its charge with its end, once: a success, a failure, and
    /// a result that came after the lease passed (paid for all the same). SQLite writes the charge
    /// in the statement that ends the attempt.
    @Test(arguments: StoreBackend.tested)
    func everyEndOfAnAttemptWritesItsChargeOnceWhateverBecameOfTheJob(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 3)
        let store = try place.runner("r1"), other = try place.runner("r2")
        let jobs = try await store.claim(limit: 3, leaseSeconds: 600, batch: nil).map(\.id).sorted()
        for id in jobs { #expect(try await store.startAttempt(job: id, continuedFromChars: nil) == 1) }
        func charge(_ cost: Double, estimated: Bool = false) -> AttemptCharge {
            AttemptCharge(usage: CompletionUsage(promptTokens: 3, completionTokens: 2, cachedPromptTokens: 1), estimated: estimated, costUSD: cost)
        }
        // r2 takes the third job (as if r1's lease had passed).
        try place.execute("UPDATE jobs SET lease_expires_at = 0 WHERE id = \(jobs[2])")
        #expect(try await other.claim(limit: 1, leaseSeconds: 600, batch: nil).map(\.id) == [jobs[2]])
        var answer = outcome("the answer")
        answer.charge = charge(0.25)
        #expect(try await store.complete(job: jobs[0], attempt: 1, outcome: answer))
        var cut = failure(kept: "the ans")
        cut.charge = charge(0.5, estimated: true)
        try await store.endAttempt(job: jobs[1], attempt: 1, failure: cut, outcome: .retry, retryAt: 0)
        var late = outcome("too late")
        late.charge = charge(1)
        #expect(try await store.complete(job: jobs[2], attempt: 1, outcome: late) == false)

        for (id, cost, outcome, estimated) in [(jobs[0], "0.25", "succeeded", "0"), (jobs[1], "0.5", "retry", "1"), (jobs[2], "1", "lease_lost", "0")] {
            #expect(try place.count("""
                SELECT count(*) FROM attempts WHERE job_id = $1 AND number = 1 AND outcome = $2 AND prompt_tokens = 3 AND completion_tokens = 2
                   AND cached_prompt_tokens = 1 AND usage_estimated = $3 AND cost_usd = $4 AND ended_at IS NOT NULL
                """, ["\(id)", outcome, estimated, cost]) == 1, "job \(id)")
            #expect(try place.count("SELECT count(*) FROM jobs WHERE id = $1 AND cost_usd = $2", ["\(id)", cost]) == 1, "job \(id)")
        }
        #expect(try place.count("SELECT count(*) FROM batch_costs WHERE attempts = 3 AND estimated_attempts = 1 AND prompt_tokens = 9 AND cost_usd = 1.75") == 1)
    }

    @Test(arguments: StoreBackend.tested)
    func theOutlookCountsWhatIsLeftForThisRunnerAndWhenItWakes(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 0, lines: [batchLine("a"), batchLine("b"), batchLine("c", model: "gpt-4.1")])
        let store = try place.runner("r1"), other = try place.runner("r2")
        let start = Date().timeIntervalSince1970
        let first = try #require(try await store.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        _ = try await store.startAttempt(job: first.id, continuedFromChars: nil)
        // A retry in 1,000 s: pending, but not runnable before then.
        try await store.endAttempt(job: first.id, attempt: 1, failure: failure(kept: nil), outcome: .retry, retryAt: start + 1000)
        let rest = try await store.claim(limit: 5, leaseSeconds: 600, batch: nil)
        #expect(rest.map(\.customID).sorted() == ["b", "c"])
        let outlook = try await other.outlook(batch: nil)
        #expect(outlook.pending == 1 && outlook.heldByOthers == 2)
        // The leases (600 s) end before the backoff (1,000 s).
        #expect((start + 590...Date().timeIntervalSince1970 + 610).contains(outlook.nextWake ?? 0))
        #expect(try await store.outlook(batch: nil).heldByOthers == 0)
        let narrowed = try await other.outlook(batch: nil, excludingModels: ["gpt-4.1"])
        #expect(narrowed.pending == 1 && narrowed.heldByOthers == 1)
        #expect(try await other.outlook(batch: "batch_000000000000").pending == 0)
        #expect(try await other.pendingModels(batch: place.batch) == ["gpt-4o-mini": 2, "gpt-4.1": 1])
        #expect(try await other.claim(limit: 5, leaseSeconds: 600, batch: nil, excludingModels: ["gpt-4o-mini"]).isEmpty)
    }

    @Test(arguments: StoreBackend.tested)
    func aHeartbeatKeepsExpiringLeasesFromBeingTakenOver(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 2)
        let store = try place.runner("r1"), other = try place.runner("r2")
        try await store.registerRunner()
        _ = try await store.claim(limit: 2, leaseSeconds: -1, batch: nil)
        try await store.heartbeat(leaseSeconds: 600)
        #expect(try await other.claim(limit: 2, leaseSeconds: 600, batch: nil).isEmpty)
        try await store.unregisterRunner()
        #expect(try place.count("SELECT count(*) FROM runners WHERE id = 'r1' AND stopped_at >= heartbeat_at") == 1)
    }

    @Test(arguments: StoreBackend.tested)
    func aCancelledBatchIsSeenAndItsJobsAreNotPutBackInTheQueue(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 3)
        let store = try place.runner("r1")
        #expect(try await store.batchExists(place.batch))
        #expect(try await !store.batchExists("batch_000000000000"))
        let jobs = try await store.claim(limit: 2, leaseSeconds: 600, batch: place.batch)
        #expect(try await store.cancelledBatches().isEmpty)
        // What `choreo cancel` does: pending jobs cancelled, running ones left to their runner.
        try place.execute("""
            UPDATE jobs SET state = 'cancelled', error_kind = 'cancelled' WHERE state = 'pending';
            UPDATE batches SET state = 'cancelled'
            """)
        #expect(try await store.cancelledBatches() == [place.batch])
        try await store.release(job: jobs[0].id)
        try await store.endWithoutAttempt(job: jobs[1].id, state: .cancelled, kind: "cancelled", message: "its batch was cancelled")
        #expect(try await store.counts(batch: nil) == ["cancelled": 3])
        #expect(try await store.claim(limit: 3, leaseSeconds: 600, batch: nil).isEmpty)
        #expect(try await store.outlook(batch: nil).pending == 0)
    }

    @Test(arguments: StoreBackend.tested)
    func resumePutsBackTheRetryableFailuresWithAFreshAttemptBudget(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 3)
        let store = try place.runner("r1")
        let jobs = try await store.claim(limit: 3, leaseSeconds: 600, batch: nil)
        for job in jobs { _ = try await store.startAttempt(job: job.id, continuedFromChars: nil) }
        var overloaded = failure(kept: nil), refused = failure(kept: nil)
        overloaded.kind = "server_error"
        refused.kind = "invalid_request"
        try await store.endAttempt(job: jobs[0].id, attempt: 1, failure: overloaded, outcome: .failed, retryAt: nil)
        try await store.endAttempt(job: jobs[1].id, attempt: 1, failure: refused, outcome: .failed, retryAt: nil)
        #expect(try await store.complete(job: jobs[2].id, attempt: 1, outcome: outcome("done")))
        try await store.completeFinishedBatches()
        #expect(try await store.batchExists(place.batch))
        #expect(try await store.counts(batch: place.batch) == ["failed": 2, "succeeded": 1])

        #expect(try await store.resume(batch: place.batch, all: false, retryableKinds: ["server_error", "timeout"]) == 1)
        #expect(try place.read("SELECT state FROM batches", []) == "pending")
        let again = try await store.claim(limit: 3, leaseSeconds: 600, batch: nil)
        #expect(again.map(\.id) == [jobs[0].id])
        #expect(again.first.map { ($0.attempts, $0.attemptBase) } ?? (0, 0) == (1, 1))
        try await store.release(job: jobs[0].id)
        #expect(try await store.resume(batch: place.batch, all: true, retryableKinds: []) == 1)
        #expect(try await store.counts(batch: place.batch) == ["pending": 2, "succeeded": 1])
    }

    @Test(arguments: StoreBackend.tested)
    func theRequestCacheKeysJobsRunsEachRequestOnceAndServesThePaidAnswer(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 0, lines: [batchLine("a", "Same"), batchLine("b", "Same"), batchLine("c", "Other")])
        let store = try place.runner("r1")
        let keyOf: @Sendable (String, String, String?) -> RequestKey? = { _, request, _ in RequestKey(requestText: request, endpoint: "openai test") }
        #expect(try await store.fillRequestKeys(batch: nil, keyOf: keyOf) == 3)
        #expect(try await store.fillRequestKeys(batch: nil, keyOf: keyOf) == 0)
        #expect(try place.count("SELECT count(DISTINCT request_key) FROM jobs") == 2)

        // Identical requests run once: "b" waits while "a" runs.
        let distinct = DistinctRequests(includingSampled: true)
        let first = try await store.claim(limit: 3, leaseSeconds: 600, batch: nil, excludingModels: [], distinctRequests: distinct)
        #expect(first.map(\.customID) == ["a", "c"])
        let a = first[0]
        let key = try #require(keyOf("", a.request, nil)).value
        #expect(try await store.cachedAnswers(keys: [key]).isEmpty)
        _ = try await store.startAttempt(job: a.id, continuedFromChars: nil)
        var paid = outcome("Paris")
        paid.charge = AttemptCharge(usage: CompletionUsage(promptTokens: 3, completionTokens: 2), estimated: false, costUSD: 0.5)
        #expect(try await store.complete(job: a.id, attempt: 1, outcome: paid))

        let answers = try await store.cachedAnswers(keys: [key, "no-such-key"])
        #expect(answers.keys.sorted() == [key])
        #expect(answers[key]?.output == "Paris" && answers[key]?.source == "\(place.batch)/a" && answers[key]?.costUSD == 0.5)
        let b = try #require(try await store.claim(limit: 3, leaseSeconds: 600, batch: nil, excludingModels: [],
                                                   distinctRequests: distinct).first)
        #expect(b.customID == "b")
        #expect(try await store.completeFromCache([(job: b.id, key: key, answer: answers[key]!)]) == [b.id])
        // A job this runner does not hold is left alone.
        #expect(try await store.completeFromCache([(job: first[1].id + 1000, key: key, answer: answers[key]!)]).isEmpty)
        #expect(try place.read("SELECT cached_from FROM jobs WHERE custom_id = 'b'", []) == "\(place.batch)/a")
        #expect(try place.count("SELECT count(*) FROM jobs WHERE custom_id = 'b' AND cost_usd = 0 AND cache_saved_usd = 0.5 AND attempts = 0") == 1)
        // The copy is never served: the answer stays the one that was paid for.
        #expect(try await store.cachedAnswers(keys: [key])[key]?.source == "\(place.batch)/a")
        #expect(try await store.counts(batch: nil) == ["succeeded": 2, "running": 1])
    }

    @Test(arguments: StoreBackend.tested)
    func aPrefillRefusalIsRememberedForLaterRuns(_ backend: StoreBackend) async throws {
        let place = try backend.place(jobs: 1)
        try await place.runner("r1").recordPrefillRefusal(model: "m1", message: "no prefill")
        try await place.runner("r1").recordPrefillRefusal(model: "m1", message: "still no prefill")
        #expect(try await place.runner("r2").prefillRefusals() == ["m1": "still no prefill"])
    }
}
