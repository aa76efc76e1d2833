import ChoreoAI
@testable import ChoreoBatch
import ChoreoMock
import ChoreoSQLite
import ChoreoTesting
import Foundation
import Testing

/// The partial flusher over SQLite keeps a long text's head in a row of its own and rewrites only
/// the rest each flush (`live_heads`, schema 21). What is stored after every flush must stay what
/// a continuation would keep of the text so far, kept text of an earlier attempt first (the head
/// is cut at a count of UTF-8 bytes, not characters), and a write the store refuses must leave
/// nothing wrong behind.
@Suite("Partial flushes with a long text's head apart")
struct LiveHeadsTests {
    /// The job's text so far as the view `partials` reads it, and its tokens.
    static func stored(_ db: Database) throws -> (text: String, tokens: Int) {
        try db.queryOne("SELECT coalesce(partial_output, ''), coalesce(partial_tokens, 0) FROM partials") { ($0.string(0)!, $0.int(1)!) }!
    }

    static func head(_ db: Database) throws -> String? {
        try db.queryOne("SELECT head FROM live_heads") { $0.string(0) } ?? nil
    }

    @Test func everyFlushKeepsWhatAContinuationWouldAndARefusedWriteIsWrittenWholeNext() async throws {
        // 300 chunks, 20 ms apart, then the stream stalls open: it cannot end before the test is done.
        let chunks = 300
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(20), fixedTokens: chunks)) { server in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": .int(Int64(chunks))]])
            let queue = try JobQueue(path: fixture.databasePath, runnerID: "r1")
            let job = try #require(try await queue.claim(limit: 1, leaseSeconds: 600, batch: nil).first)
            _ = try await queue.startAttempt(job: job.id, continuedFromChars: nil)
            let client = ChoreoClient(router: Fixture.router(server))
            let stream = try await client.stream(body: try JSONValue.parse(job.request), provider: try client.provider(for: job.model),
                                                 delivery: .collected)
            defer { stream.cancel() }
            // As if an earlier attempt had kept this: 13 characters, 17 bytes. The head is written
            // again whenever the text is 40 bytes past it.
            let kept = "Café ☕ crème", keptTokens = 4
            let flusher = PartialFlusher(queue: queue, restLimit: 40)
            flusher.register(LiveOutput(job: job.id, batch: job.batchID, kept: kept, keptTokens: keptTokens, stream: stream))
            let db = try Database(path: fixture.databasePath, readOnly: true)
            var seen = 0, heads: Set<String> = [], restOnly = 0
            /// Waits for a chunk the last flush did not see, then flushes; what is stored is then
            /// what a continuation keeps of the text read before the flush, or of a later one.
            func flushAfterANewChunk(_ step: String) async throws {
                try await eventually("a chunk after \(step)") { stream.chunkCount > seen }
                seen = stream.chunkCount
                let headBefore = try Self.head(db)
                try await flusher.flush()
                let now = try Self.stored(db).text
                #expect(now.hasPrefix(kept) && Continuation.prefill(for: kept + stream.text).hasPrefix(now), "\(step): \(now.debugDescription)")
                let head = try Self.head(db)
                if let head { heads.insert(head) }
                if head != nil && head == headBefore { restOnly += 1 }
            }
            // ~4 bytes a chunk: the head is written again every ten chunks or so.
            while heads.count < 2 || restOnly < 2, stream.chunkCount < chunks / 2 { try await flushAfterANewChunk("flush \(seen)") }
            #expect(heads.count >= 2, "the head was written again as the text grew: \(heads)")
            #expect(restOnly >= 2, "flushes rewrote the rest alone")

            // A head that is not the flusher's lands behind its back: the next write, if it counts
            // on its own head, is refused, and the flush after it writes the whole text again
            // (with nothing new to send), the stray text gone. (On a loaded machine enough text
            // can come meanwhile for the next write to be a new head, which replaces it at once.)
            let writer = try Database(path: fixture.databasePath)
            try writer.run("UPDATE live_heads SET head = head || '⟂'")
            try writer.run("UPDATE live_partials SET head_bytes = head_bytes + 3")
            let stray = try Self.head(db)
            try await eventually("a chunk after the stray head") { stream.chunkCount > seen }
            seen = stream.chunkCount
            try await flusher.flush()
            #expect(try Self.stored(db).text.contains("⟂") || Self.head(db) != stray, "a write went onto the stray head")
            try await flusher.flush()
            #expect(try !Self.stored(db).text.contains("⟂"))

            while stream.chunkCount < chunks { try await flushAfterANewChunk("flush \(seen) after the rewrite") }
            try await flusher.flush()
            let read = stream.textSoFar
            let last = try Self.stored(db)
            #expect(last.text == Continuation.prefill(for: kept + read.text))
            #expect(last.tokens == keptTokens + read.settledChunks)
        }
    }
}
