import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoAI
import ChoreoPostgres
import ChoreoTesting

/// Group commit on PostgreSQL (`PostgresJobStore+GroupCommit`): what the contract tests cannot
/// see through the protocol (how many transactions, a COMMIT whose answer is lost).
@Suite(.enabled(if: PostgresServer.skipReason == nil, Comment(rawValue: PostgresServer.skipReason ?? "")))
struct PostgresGroupCommitTests {
    /// A fresh database with `count` jobs, all claimed by runner "r1" (not started).
    private func claimedJobs(count: Int, lines: [String]? = nil) async throws -> (PostgresJobStore, [Int64], PostgresTestDatabase) {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: lines ?? (0..<count).map { batchLine("j\($0)") })
        let database = try PostgresServer.shared.get().createDatabase()
        let url = try PostgresURL(database.url)
        _ = try PostgresBatchSubmitter(url: url).submit(file: path)
        let store = try PostgresJobStore(url: url, runnerID: "r1")
        let ids = try await store.claim(limit: count, leaseSeconds: 600, batch: nil).map(\.id).sorted()
        #expect(ids.count == count)
        return (store, ids, database)
    }

    private func outcome(_ text: String) -> JobOutcome {
        JobOutcome(output: text, toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
                   promptTokens: 3, completionTokens: 2, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: nil,
                   bytesReceived: 10, charsReceived: text.count)
    }

    private func count(_ db: PostgresTestDatabase, _ sql: String, _ arguments: [PostgresValue] = []) throws -> Int {
        (try db.connect().queryOne(sql, arguments) { $0.int(0) } ?? nil) ?? -1
    }

    @Test func startsAndSuccessesArrivingTogetherShareTransactions() async throws {
        let (store, ids, db) = try await claimedJobs(count: 48)
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for id in ids { group.addTask { try await store.startAttempt(job: id, continuedFromChars: nil) } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(numbers == Array(repeating: 1, count: 48))
        let held = try await withThrowingTaskGroup(of: Bool.self) { group in
            for id in ids { group.addTask { try await store.complete(job: id, attempt: 1, outcome: self.outcome("out \(id)")) } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(held == Array(repeating: true, count: 48))
        let stats = await store.groupCommitStats
        #expect(stats.writes == 96)
        #expect(stats.transactions < stats.writes / 4, "\(stats)")
        #expect(try count(db, "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'out ' || id") == 48)
        #expect(try count(db, "SELECT jobs FROM batch_counts WHERE state = 'succeeded'") == 48)
        #expect(try count(db, "SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND headers_ms IS NULL AND ended_at IS NOT NULL") == 48)
    }

    /// The connection breaks after the server committed but before its answer arrived: the
    /// store cannot know, and tries again. The retry must find its own work, not write it twice
    /// (a second attempt number, a success taken for a lost lease, an end written over as lost).
    @Test func writesRetriedAfterACommitsAnswerWasLostAreWrittenOnce() async throws {
        let (store, ids, db) = try await claimedJobs(count: 2)
        await store.loseCommitAnswers(1)
        #expect(try await store.startAttempt(job: ids[0], continuedFromChars: nil) == 1)
        await store.loseCommitAnswers(1)
        #expect(try await store.startAttempt(job: ids[1], continuedFromChars: nil) == 1)
        #expect(try count(db, "SELECT count(*) FROM attempts") == 2)
        #expect(try count(db, "SELECT sum(attempts) FROM jobs") == 2)

        await store.loseCommitAnswers(1)
        #expect(try await store.complete(job: ids[0], attempt: 1, outcome: outcome("the answer")))
        #expect(try count(db, "SELECT count(*) FROM attempts WHERE job_id = $1 AND outcome = 'succeeded'", [.init(ids[0])]) == 1)

        await store.loseCommitAnswers(1)
        let failure = AttemptFailure(kind: "server_error", message: "boom", httpStatus: 500, requestID: nil, bytesReceived: 1,
                                     charsReceived: 1, keptPartial: nil, keptPartialTokens: 0, spentPromptTokens: 0, receivedText: nil)
        try await store.endAttempt(job: ids[1], attempt: 1, failure: failure, outcome: .retry, retryAt: 0)
        #expect(try count(db, "SELECT count(*) FROM attempts WHERE job_id = $1 AND outcome = 'retry' AND error_kind = 'server_error'",
                          [.init(ids[1])]) == 1)
        #expect(try await store.counts(batch: nil) == ["succeeded": 1, "pending": 1])
    }

    /// Jobs served from the cache, retried after the COMMIT's answer was lost, are reported as
    /// written (they were), not as lost to another runner; and written once.
    @Test func cacheServedJobsRetriedAfterACommitsAnswerWasLostAreReportedAsServed() async throws {
        let (store, ids, db) = try await claimedJobs(count: 2)
        let answer = CachedAnswer(output: "from the cache", finishReason: "stop", response: "{}", source: "b/earlier")
        await store.loseCommitAnswers(1)
        let served = try await store.completeFromCache(ids.map { (job: $0, key: "key-\($0)", answer: answer) })
        #expect(served.sorted() == ids)
        #expect(try count(db, "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND cached_from = 'b/earlier'") == 2)
        #expect(try count(db, "SELECT sum(jobs) FROM batch_counts WHERE state = 'succeeded'") == 2)
        // Another runner serving the same job later did not write it, and is not told it did.
        let other = try PostgresJobStore(url: try PostgresURL(db.url), runnerID: "r2")
        #expect(try await other.completeFromCache([(job: ids[0], key: "key-\(ids[0])", answer: answer)]).isEmpty)
    }

    /// A value PostgreSQL cannot store (text holding NUL) fails the statement the whole group
    /// shares; the group is written again one write at a time, and only that write fails.
    @Test func aWriteTheServerRefusesFailsAloneAndTheRestOfItsGroupCommits() async throws {
        let (store, ids, db) = try await claimedJobs(count: 12)
        for id in ids { _ = try await store.startAttempt(job: id, continuedFromChars: nil) }
        let bad = ids[5]
        let results = await withTaskGroup(of: (Int64, Result<Bool, any Error>).self) { group in
            for id in ids {
                group.addTask {
                    let text = id == bad ? "cut\u{0}here" : "out \(id)"
                    do { return (id, .success(try await store.complete(job: id, attempt: 1, outcome: self.outcome(text)))) }
                    catch { return (id, .failure(error)) }
                }
            }
            return await group.reduce(into: [Int64: Result<Bool, any Error>]()) { $0[$1.0] = $1.1 }
        }
        for id in ids {
            if id == bad {
                #expect((try? results[id]!.get()) == nil)
            } else {
                #expect((try? results[id]!.get()) == true, "job \(id)")
            }
        }
        #expect(try count(db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 11)
        #expect(try count(db, "SELECT count(*) FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = 'r1'", [.init(bad)]) == 1)
    }
}

extension PostgresJobStore {
    /// The next `count` commits lose their answer: committed on the server, reported here
    /// as a broken connection.
    func loseCommitAnswers(_ count: Int) {
        var left = count
        afterCommit = {
            guard left > 0 else { return }
            left -= 1
            throw PostgresError(code: .connectionFailure, message: "the connection broke before COMMIT's answer arrived (test)")
        }
    }
}
