import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite
import ChoreoTesting

/// SQLite keeps the text of a streaming job in `live_partials` (schema 18), a narrow row, so a
/// partial flush does not rewrite the job's whole `jobs` record (issue 20: that rewrite was a third
/// of the CPU of 2,000 slow streams). What a reader sees must not change: the claim, the exports,
/// `show` and the `partials` view read the live text first, and every end of an attempt leaves it
/// in exactly one place.
@Suite("Live partials (SQLite)")
struct LivePartialsTests {
    /// A database with `jobs` jobs claimed by runner `r1`, each with its first attempt started.
    private func running(_ jobs: Int, lease: Double = 600) async throws -> (TemporaryDirectory, JobQueue, [ClaimedJob]) {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<jobs).map { batchLine("j\($0)") })
        _ = try BatchSubmitter(database: try dir.database()).submit(file: path)
        let queue = try JobQueue(path: dir.databasePath, runnerID: "r1")
        let claimed = try await queue.claim(limit: jobs, leaseSeconds: lease, batch: nil).sorted { $0.id < $1.id }
        for job in claimed { _ = try await queue.startAttempt(job: job.id, continuedFromChars: nil) }
        return (dir, queue, claimed)
    }

    private static func failure() -> AttemptFailure {
        AttemptFailure(kind: "interrupted", message: "the stream was cut", httpStatus: 200, requestID: nil, bytesReceived: 10,
                       charsReceived: 5, keptPartial: nil, keptPartialTokens: 0, spentPromptTokens: 4, receivedText: nil)
    }

    @Test func aFlushWritesTheLiveRowAndLeavesTheJobsRecordAsItWas() async throws {
        let (dir, queue, jobs) = try await running(2)
        let db = try dir.database()
        let before = try db.queryOne("SELECT group_concat(updated_at || '/' || coalesce(partial_output, '-'), ',') FROM jobs") { $0.string(0) }
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Once upon", tokens: 2, choices: nil),
                                      PartialText(job: jobs[1].id, text: "Phobos", tokens: 1, choices: #"["Phobos","Deimos"]"#)])
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Once upon a time", tokens: 4, choices: nil)])

        #expect(try db.queryOne("SELECT group_concat(updated_at || '/' || coalesce(partial_output, '-'), ',') FROM jobs") { $0.string(0) } == before,
                "a flush rewrote the jobs record")
        var live: [String] = []
        try db.query("SELECT job_id || ':' || text || ':' || tokens || ':' || coalesce(choices, '-') FROM live_partials ORDER BY job_id") {
            live.append($0.string(0)!)
        }
        #expect(live == ["\(jobs[0].id):Once upon a time:4:-", "\(jobs[1].id):Phobos:1:[\"Phobos\",\"Deimos\"]"])
        var seen: [String] = []
        try db.query("SELECT custom_id || ':' || partial_output || ':' || partial_tokens FROM partials ORDER BY job_id") { seen.append($0.string(0)!) }
        #expect(seen == ["j0:Once upon a time:4", "j1:Phobos:1"])
    }

    /// A runner killed mid-stream leaves its live row behind: the job's readers see that text, and
    /// the runner that takes the job over continues from it; its success leaves no live row.
    @Test func aDeadRunnersLiveTextIsShownExportedAndContinued() async throws {
        let (dir, queue, jobs) = try await running(1, lease: -1)  // a lease already over: r1 "died"
        let db = try dir.database()
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Half an ans", tokens: 3, choices: nil)])

        #expect(try JobDetail.load(db, job: "j0").rendered().contains("partial output (11 characters so far)"))
        let writer = try BufferedWriter(path: dir.file("out"))
        try ResultExporter(database: db).export(batch: jobs[0].batchID, format: .jsonl, states: [], to: writer)
        try writer.flush()
        let line = try JSONValue.parse(dir.read("out").trimmingCharacters(in: .newlines))
        #expect(line["partial_output"] == "Half an ans" && line["state"] == "running")

        let second = try JobQueue(path: dir.databasePath, runnerID: "r2")
        let taken = try #require(try await second.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        #expect(taken.partialOutput == "Half an ans" && taken.partialTokens == 3)
        // r1 is not dead after all: its late flush must not touch what is now r2's.
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Half an answer from r1", tokens: 5, choices: nil)])
        #expect(try db.queryOne("SELECT text FROM live_partials") { $0.string(0) } == "Half an ans")

        let n = try await second.startAttempt(job: taken.id, continuedFromChars: 11)
        try await second.savePartials([PartialText(job: taken.id, text: "Half an answer", tokens: 4, choices: nil)])
        #expect(try await second.complete(job: taken.id, attempt: n, outcome: JobOutcome(
            output: "Half an answer.", toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
            promptTokens: 3, completionTokens: 5, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: nil,
            bytesReceived: 10, charsReceived: 4)))
        #expect(try db.queryOne("SELECT count(*) FROM live_partials") { $0.int(0) } == 0)
        #expect(try db.queryOne("SELECT count(*) FROM partials WHERE partial_output IS NOT NULL") { $0.int(0) } == 0)
    }

    /// An attempt's end moves the live text into the job's columns (or drops it when the failure
    /// discards it), in the same transaction, so the text is always in exactly one place.
    @Test func anAttemptsEndMovesTheLiveTextIntoTheJob() async throws {
        let (dir, queue, jobs) = try await running(2)
        let db = try dir.database()
        try await queue.savePartials(jobs.map { PartialText(job: $0.id, text: "Hello", tokens: 1, choices: nil) })
        // Neither attempt kept text of its own (`keptPartial` nil): the flushed text is what there is.
        try await queue.endAttempt(job: jobs[0].id, attempt: 1, failure: Self.failure(), outcome: .interrupted, retryAt: 0)
        var discarded = Self.failure()
        discarded.discardsPartial = true
        try await queue.endAttempt(job: jobs[1].id, attempt: 1, failure: discarded, outcome: .interrupted, retryAt: 0)

        #expect(try db.queryOne("SELECT count(*) FROM live_partials") { $0.int(0) } == 0)
        #expect(try db.queryOne("SELECT partial_output || ':' || partial_tokens FROM jobs WHERE id = ?", [.integer(jobs[0].id)]) { $0.string(0) } == "Hello:1")
        #expect(try db.queryOne("SELECT partial_output IS NULL FROM jobs WHERE id = ?", [.integer(jobs[1].id)]) { $0.int(0) } == 1)
    }

    /// The live text of a job as every reader sees it (`live_texts`, read by the view `partials`).
    private static func liveText(_ db: Database, _ job: Int64) throws -> String? {
        try db.queryOne("SELECT partial_output || ':' || partial_tokens FROM partials WHERE job_id = ?", [.integer(job)]) { $0.string(0) } ?? nil
    }

    /// The head and the rest of a job's live text as stored, and the head's length in the live row.
    private static func stored(_ db: Database, _ job: Int64) throws -> String? {
        try db.queryOne("""
            SELECT coalesce((SELECT head FROM live_heads WHERE job_id = l.job_id), '-') || '|' || text || '|' || head_bytes
            FROM live_partials l WHERE job_id = ?
            """, [.integer(job)]) { $0.string(0) } ?? nil
    }

    /// A long text's head is kept in a row of its own (schema 21), so the flushes after it rewrite
    /// only the rest of the text. Every reader sees the text whole: the view, `show`, the
    /// exports, the claim that continues it and an attempt's end, which leaves no row behind.
    @Test func aLongTextsHeadIsKeptApartAndEveryReaderSeesItWhole() async throws {
        let (dir, queue, jobs) = try await running(1, lease: -1)
        let db = try dir.database()
        let job = jobs[0].id
        try await queue.savePartials([PartialText(job: job, text: "Café ☕ au", tokens: 3, choices: nil, headBytes: 5)])
        #expect(try Self.stored(db, job) == "Café| ☕ au|5")
        #expect(try await queue.savePartials([PartialText(job: job, text: "Café ☕ au lait", tokens: 5, choices: nil, headBytes: 5,
                                                          headStored: true)]).isEmpty)
        #expect(try Self.stored(db, job) == "Café| ☕ au lait|5")
        #expect(try Self.liveText(db, job) == "Café ☕ au lait:5")
        #expect(try JobDetail.load(db, job: "j0").rendered().contains("partial output (14 characters so far)"))
        let writer = try BufferedWriter(path: dir.file("out"))
        try ResultExporter(database: db).export(batch: jobs[0].batchID, format: .jsonl, states: [], to: writer)
        try writer.flush()
        #expect(try JSONValue.parse(dir.read("out").trimmingCharacters(in: .newlines))["partial_output"] == "Café ☕ au lait")

        // r1's lease is over: the runner that takes the job continues from the whole text.
        let second = try JobQueue(path: dir.databasePath, runnerID: "r2")
        let taken = try #require(try await second.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
        #expect(taken.partialOutput == "Café ☕ au lait" && taken.partialTokens == 5)
        #expect(try await queue.savePartials([PartialText(job: job, text: "Café ☕ au lait froid", tokens: 6, choices: nil, headBytes: 5,
                                                          headStored: true)]) == [job], "r1's late flush changed what is r2's")
        #expect(try Self.liveText(db, job) == "Café ☕ au lait:5")
        let n = try await second.startAttempt(job: job, continuedFromChars: 14)
        try await second.endAttempt(job: job, attempt: n, failure: Self.failure(), outcome: .interrupted, retryAt: 0)
        #expect(try db.queryOne("SELECT partial_output || ':' || partial_tokens FROM jobs") { $0.string(0) } == "Café ☕ au lait:5")
        #expect(try db.queryOne("SELECT (SELECT count(*) FROM live_partials) + (SELECT count(*) FROM live_heads)") { $0.int(0) } == 0)
    }

    /// A write that counts on a stored head changes nothing where the head is not that long, or
    /// there is no live row, and says so; a whole write replaces the head, or drops it.
    @Test func aWriteCountingOnAHeadThatIsNotThereIsRefused() async throws {
        let (dir, queue, jobs) = try await running(2)
        let db = try dir.database()
        let (a, b) = (jobs[0].id, jobs[1].id)
        #expect(try await queue.savePartials([PartialText(job: a, text: "Once", tokens: 1, choices: nil, headBytes: 2, headStored: true)]) == [a],
                "no live row")
        try await queue.savePartials([PartialText(job: a, text: "Once", tokens: 1, choices: nil),
                                      PartialText(job: b, text: "Hello", tokens: 1, choices: nil, headBytes: 3)])
        #expect(try Self.stored(db, a) == "-|Once|0" && Self.stored(db, b) == "Hel|lo|3")
        let refused = try await queue.savePartials([
            PartialText(job: a, text: "Once upon", tokens: 2, choices: nil, headBytes: 2, headStored: true),  // a has no head
            PartialText(job: b, text: "Hello, world", tokens: 3, choices: nil, headBytes: 3, headStored: true),
        ])
        #expect(refused == [a])
        #expect(try Self.liveText(db, a) == "Once:1" && Self.liveText(db, b) == "Hello, world:3")

        try await queue.savePartials([PartialText(job: b, text: "Hello, world!", tokens: 4, choices: nil, headBytes: 12)])
        #expect(try Self.stored(db, b) == "Hello, world|!|12")
        try await queue.savePartials([PartialText(job: b, text: "Hello, world! Hi", tokens: 5, choices: nil)])
        #expect(try Self.stored(db, b) == "-|Hello, world! Hi|0", "a whole write without a head keeps none")
        #expect(try db.queryOne("SELECT count(*) FROM live_heads") { $0.int(0) } == 0)
    }

    /// A database of schema 20 (live texts whole in `live_partials`) migrates with them as they were.
    @Test func aDatabaseOfSchema20KeepsItsLiveTexts() async throws {
        let (dir, queue, jobs) = try await running(1)
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Once upon", tokens: 2, choices: nil, headBytes: 4)])
        try Database(path: dir.databasePath).execute(OldSchema.version20)
        let raw = try Database(path: dir.databasePath, readOnly: false, migrate: false)
        #expect(try raw.queryOne("SELECT text FROM live_partials") { $0.string(0) } == "Once upon", "undone with its head in front")
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try Self.liveText(db, jobs[0].id) == "Once upon:2")
        #expect(try Self.stored(db, jobs[0].id) == "-|Once upon|0")
    }

    /// A database of schema 17 (partials in `jobs` only) migrates with its texts where they were.
    @Test func aDatabaseOfSchema17KeepsItsPartialTexts() async throws {
        let (dir, queue, jobs) = try await running(1)
        try await queue.savePartials([PartialText(job: jobs[0].id, text: "Once", tokens: 1, choices: nil)])
        let raw = try Database(path: dir.databasePath)
        try raw.execute("DELETE FROM live_partials; UPDATE jobs SET partial_output = 'Once upon', partial_tokens = 2;")
        try raw.execute(OldSchema.version17)
        let db = try dir.database()
        #expect(try Schema.userVersion(db) == Schema.currentVersion)
        #expect(try db.queryOne("SELECT partial_output FROM partials") { $0.string(0) } == "Once upon")
    }
}
