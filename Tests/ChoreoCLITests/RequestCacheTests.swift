import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoSQLite

/// `--cache`: identical jobs are paid for once. Every test counts the requests the mock
/// received, so an answer "from the cache" that was in fact fetched again fails it.
@Suite struct RequestCacheTests {
    /// `copies` copies of each of `prompts` (short form, temperature 0 unless `extra` says
    /// otherwise), with distinct custom ids.
    static func lines(prompts: [String], copies: Int, prefix: String = "job", extra: [String: JSONValue] = ["temperature": 0]) -> [JSONValue] {
        var out: [JSONValue] = []
        for c in 0..<copies {
            for (p, prompt) in prompts.enumerated() {
                var o = extra
                o["custom_id"] = .string("\(prefix)-\(p)-\(c)")
                o["model"] = "gpt-4o-mini"
                o["messages"] = [["role": "user", "content": .string(prompt)]]
                out.append(.object(o))
            }
        }
        return out
    }

    /// Submits `lines` as another batch of `fixture`'s database; returns its id.
    static func submit(_ lines: [JSONValue], to fixture: Fixture, name: String) throws -> String {
        let file = fixture.directory.appendingPathComponent(name + ".jsonl")
        try (lines.map(\.jsonString).joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        return try BatchSubmitter(database: Database(path: fixture.databasePath)).submit(file: file.path).batchID
    }

    /// custom_id → (output, cached_from, cost) of one batch.
    static func results(_ fixture: Fixture, batch: String) throws -> [String: (output: String?, cachedFrom: String?, cost: Double?)] {
        let db = try Database(path: fixture.databasePath, readOnly: true)
        var out: [String: (String?, String?, Double?)] = [:]
        try db.query("SELECT custom_id, output, cached_from, cost_usd FROM jobs WHERE batch_id = ? AND state = 'succeeded'", [.init(batch)]) {
            out[$0.string(0)!] = ($0.string(1), $0.string(2), $0.double(3))
        }
        return out
    }

    @Test func identicalJobsInOneBatchAreSentOnceAndAllGetTheAnswer() async throws {
        try await withMockServer { server in
        let prompts = ["Name two moons of Mars.", "Name a moon of Saturn.", "What is Io?", "What is Titan?"]
        let fixture = try Fixture(lines: Self.lines(prompts: prompts, copies: 5))
        let summary = try await fixture.run(server) { $0.cache = CacheOptions() }
        #expect(summary.exitCode == 0 && summary.succeeded == 20)
        #expect(server.stats().requests == 4)
        #expect(summary.cache == CacheSummary(served: 16, savedUSD: summary.cache?.savedUSD ?? -1, missed: 4, sampled: 0))
        try fixture.expectAllExact()
        let rows = try Self.results(fixture, batch: fixture.batchID)
        for p in prompts.indices {
            let leader = rows["job-\(p)-0"]!
            #expect(leader.cachedFrom == nil && (leader.cost ?? 0) > 0)
            for c in 1..<5 {
                let copy = rows["job-\(p)-\(c)"]!
                #expect(copy.output == leader.output && copy.cost == 0)
                #expect(copy.cachedFrom == "\(fixture.batchID)/job-\(p)-0")
            }
        }
        try fixture.expectCountsMatchJobs()
        }
    }

    @Test func withoutTheCacheEveryCopyIsSentAndALaterCachedBatchSendsNothing() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(lines: Self.lines(prompts: ["Name two moons of Mars.", "What is Io?"], copies: 3))
        #expect(try await fixture.run(server).exitCode == 0)
        #expect(server.stats().requests == 6)
        // Keys in another order and another number spelling: the same requests.
        let again = Self.lines(prompts: ["Name two moons of Mars.", "What is Io?"], copies: 2, prefix: "again", extra: ["temperature": 0.0])
        let batch = try Self.submit(again, to: fixture, name: "again")
        let summary = try await fixture.run(server) { $0.batch = batch; $0.cache = CacheOptions() }
        #expect(summary.exitCode == 0 && summary.cache?.served == 4)
        #expect(server.stats().requests == 6)
        let first = try Self.results(fixture, batch: fixture.batchID), second = try Self.results(fixture, batch: batch)
        for p in 0..<2 {
            // The earliest answer is the one reused.
            #expect(second["again-\(p)-0"]?.output == first["job-\(p)-0"]?.output)
            #expect(second["again-\(p)-1"]?.cachedFrom == "\(fixture.batchID)/job-\(p)-0")
        }
        }
    }

    @Test func onlyCompleteAnswersAreReused() async throws {
        try await withMockServer { server in
        // max_tokens 3 cuts every answer: finish_reason length, never reused.
        let fixture = try Fixture(lines: Self.lines(prompts: ["Tell me a long story."], copies: 3, extra: ["temperature": 0, "max_tokens": 3]))
        let summary = try await fixture.run(server) { $0.cache = CacheOptions() }
        #expect(summary.exitCode == 0 && summary.cache?.served == 0)
        #expect(server.stats().requests == 3)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE finish_reason = 'length' AND cached_from IS NULL") == 3)
        }
    }

    @Test func requestsThatSampleAreReusedOnlyWhenAsked() async throws {
        try await withMockServer { server in
        // No temperature: the provider samples at its default.
        let fixture = try Fixture(lines: Self.lines(prompts: ["Name a moon."], copies: 3, extra: [:]))
        let plain = try await fixture.run(server) { $0.cache = CacheOptions() }
        #expect(plain.cache == CacheSummary(served: 0, savedUSD: 0, missed: 0, sampled: 3))
        #expect(server.stats().requests == 3)
        let batch = try Self.submit(Self.lines(prompts: ["Name a moon."], copies: 2, prefix: "b", extra: [:]), to: fixture, name: "b")
        let sampled = try await fixture.run(server) { $0.batch = batch; $0.cache = CacheOptions(reuseSampled: true) }
        #expect(sampled.cache?.served == 2)
        #expect(server.stats().requests == 3)
        }
    }

    @Test func aSharedCacheFileAnswersAnotherDatabase() async throws {
        try await withMockServer { server in
        let shared = TemporaryDirectory()
        let path = shared.url.appendingPathComponent("cache.sqlite").path
        let lines = Self.lines(prompts: ["Name two moons of Mars.", "What is Io?"], copies: 1)
        let first = try Fixture(lines: lines)
        #expect(try await first.run(server) { $0.cache = CacheOptions(sharedPath: path) }.exitCode == 0)
        #expect(server.stats().requests == 2)
        let stats = try await CacheFile(path: path).stats()
        #expect(stats.entries == 2 && stats.hits == 0)

        let second = try Fixture(lines: lines)
        let summary = try await second.run(server) { $0.cache = CacheOptions(sharedPath: path) }
        #expect(summary.cache?.served == 2)
        #expect(server.stats().requests == 2)
        try second.expectAllExact()
        let rows = try Self.results(second, batch: second.batchID)
        #expect(rows["job-0-0"]?.cachedFrom == "\(path): \(first.batchID)/job-0-0")
        #expect(try await CacheFile(path: path).stats().hits == 2)
        // A results database is not a cache file.
        #expect(throws: CacheFileError.self) { _ = try CacheFile(path: first.databasePath) }
        }
    }

    @Test func clearedAnswersAreNotReused() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(lines: Self.lines(prompts: ["What is Io?"], copies: 1))
        #expect(try await fixture.run(server).exitCode == 0)
        let db = SQLiteBatchStore(try Database(path: fixture.databasePath))
        // Finished just now: not older than an hour, so an age limit leaves it.
        #expect(try db.clearCache(before: Date().timeIntervalSince1970 - 3600) == 0)
        #expect(try db.cacheStats().entries == 1)
        #expect(try db.clearCache(before: nil) == 1)
        #expect(try db.cacheStats().entries == 0)
        let batch = try Self.submit(Self.lines(prompts: ["What is Io?"], copies: 1, prefix: "b"), to: fixture, name: "b")
        let summary = try await fixture.run(server) { $0.batch = batch; $0.cache = CacheOptions() }
        #expect(summary.cache?.served == 0)
        #expect(server.stats().requests == 2)
        }
    }

    /// Embeddings never sample: a cached run reuses their vectors without --cache-sampled.
    @Test func embeddingsAreReusedByteForByte() async throws {
        try await withMockServer { server in
        func line(_ id: String, _ input: String) -> JSONValue {
            ["custom_id": .string(id), "method": "POST", "url": "/v1/embeddings",
             "body": ["model": "text-embedding-3-small", "input": .string(input), "dimensions": 8]]
        }
        let fixture = try Fixture(lines: [line("e1", "first text"), line("e2", "second text")])
        #expect(try await fixture.run(server).exitCode == 0)
        let requests = server.stats().requests
        let batch = try Self.submit([line("again-1", "first text"), line("again-2", "second text")], to: fixture, name: "again")
        let summary = try await fixture.run(server) { $0.batch = batch; $0.cache = CacheOptions() }
        #expect(summary.exitCode == 0 && summary.cache?.served == 2)
        #expect(server.stats().requests == requests)
        let db = try Database(path: fixture.databasePath, readOnly: true)
        var vectors: [String: String] = [:]
        try db.query("SELECT custom_id, hex(embedding) || '|' || dimensions || '|' || coalesce(cached_from, '') FROM jobs") {
            vectors[$0.string(0)!] = $0.string(1)
        }
        for (original, copy) in [("e1", "again-1"), ("e2", "again-2")] {
            let o = try #require(vectors[original]).split(separator: "|"), c = try #require(vectors[copy]).split(separator: "|")
            #expect(o[0] == c[0] && o[1] == "8" && c[1] == "8" && !o[0].isEmpty)
            #expect(c.count == 3 && c[2] == "\(fixture.batchID)/\(original)")
        }
        }
    }

    @Test func answersOfADatabaseFromBeforeTheCacheAreReusedOnceItIsMigrated() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(lines: Self.lines(prompts: ["What is Io?"], copies: 1))
        #expect(try await fixture.run(server).exitCode == 0)
        // Back to schema 10: the answer was written by a version without the cache, with no key.
        try Database(path: fixture.databasePath, readOnly: false, migrate: false).execute(OldSchema.version10)
        // The next submit migrates it.
        let batch = try Self.submit(Self.lines(prompts: ["What is Io?"], copies: 1, prefix: "b"), to: fixture, name: "b")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND request_key IS NULL") == 1)
        let summary = try await fixture.run(server) { $0.batch = batch; $0.cache = CacheOptions() }
        #expect(summary.cache?.served == 1)
        #expect(server.stats().requests == 1)
        }
    }

    /// The command line: the config key turns the cache on, the summary and `status` say what
    /// it did, `cache stats` and `cache clear` work on the database.
    @Test func theConfigKeyStatusAndTheCacheCommands() async throws {
        let scratch = TemporaryDirectory()
        let dir = scratch.url
        let db = dir.appendingPathComponent("c.sqlite").path
        let jobs = dir.appendingPathComponent("jobs.jsonl")
        try (Self.lines(prompts: ["Name two moons of Mars."], copies: 3).map(\.jsonString).joined(separator: "\n") + "\n")
            .write(to: jobs, atomically: true, encoding: .utf8)
        let config = dir.appendingPathComponent("choreo.json")
        try #"{"cache": true}"#.write(to: config, atomically: true, encoding: .utf8)
        let run = try await ChoreoBinary.run(["submit", jobs.path, "--run", "--mock", "--db", db, "--config", config.path])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("cache: 2 jobs answered from the cache"), "\(run.stderr)")
        let status = try await ChoreoBinary.run(["status", "--db", db, "--json"])
        #expect(status.stdout.contains(#""cache":{"jobs":2"#), "\(status.stdout)")
        let stats = try await ChoreoBinary.run(["cache", "stats", "--db", db, "--json"])
        let parsed = try JSONValue.parse(stats.stdout)
        #expect(parsed["entries"]?.intValue == 1 && parsed["hits"]?.intValue == 2, "\(stats.output)")
        let clear = try await ChoreoBinary.run(["cache", "clear", "--db", db, "--older-than", "30d"])
        #expect(clear.status == 0 && clear.stderr.contains("cleared 0 answers"), "\(clear.output)")
        let bad = try await ChoreoBinary.run(["cache", "clear", "--db", db, "--older-than", "soon"])
        #expect(bad.status == 2 && bad.stderr.contains("--older-than soon"), "\(bad.output)")
        try #"{"cache": {"db": 7}}"#.write(to: config, atomically: true, encoding: .utf8)
        let wrong = try await ChoreoBinary.run(["run", "--mock", "--db", db, "--config", config.path])
        #expect(wrong.status == 2 && wrong.stderr.contains("cache.db"), "\(wrong.output)")
    }
}
