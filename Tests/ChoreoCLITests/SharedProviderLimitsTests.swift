import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoPostgres
import ChoreoSQLite
import ChoreoTesting
import Foundation
import Testing

/// Provider limits shared through the database (issue 15): runners on one SQLite file, or on one
/// PostgreSQL database, send no more than a provider's `rpm` together, and a 429 that one of them
/// gets pauses the provider for all of them.
///
/// Each runner is a `BatchRunner` with a store of its own (its own connection, its own runner
/// id), as two `choreo run` processes would be; they run together until the queue is empty, and
/// the checks read the times the mock received each request.
@Suite struct SharedProviderLimitsTests {
    /// A database the jobs are submitted to, SQLite or PostgreSQL.
    struct Queue {
        let location: StoreLocation
        let batch: String
        /// Keeps the SQLite file's folder, or the PostgreSQL database, until the test ends.
        let owner: any Sendable
        /// The first column of the first row of `sql` (`?` bound to the text arguments), as a number.
        let number: @Sendable (_ sql: String, _ arguments: [String]) throws -> Double?
    }

    static func lines(_ count: Int, faulty: Set<Int> = [], maxTokens: Int) -> [String] {
        (0..<count).map { i in
            var o: [String: JSONValue] = [
                "custom_id": .string(String(format: "job-%03d", i)), "model": "gpt-4o-mini", "max_tokens": .int(Int64(maxTokens)),
                "messages": [["role": "user", "content": .string("Question number \(i): tell me something")]],
            ]
            if faulty.contains(i) { o["mock"] = ["fault": "429", "times": 1] }
            return JSONValue.object(o).jsonString
        }
    }

    static func sqlite(_ lines: [String]) throws -> Queue {
        let scratch = TemporaryDirectory()
        let path = scratch.file("shared.sqlite")
        let batch = try BatchSubmitter(database: Database(path: path)).submit(file: scratch.write("jobs.jsonl", lines: lines)).batchID
        return Queue(location: .sqlite(path: path), batch: batch, owner: scratch, number: { sql, arguments in
            try Database(path: path, readOnly: true).queryOne(sql, arguments.map { .text($0) }) { $0.double(0) } ?? nil
        })
    }

    static func postgres(_ lines: [String]) throws -> Queue {
        let database = try PostgresServer.shared.get().createDatabase()
        let scratch = TemporaryDirectory()
        let url = try PostgresURL(database.url)
        let batch = try PostgresBatchSubmitter(url: url).submit(file: scratch.write("jobs.jsonl", lines: lines)).batchID
        return Queue(location: .postgres(url), batch: batch, owner: database, number: { sql, arguments in
            var numbered = sql
            for i in arguments.indices { numbered = numbered.replacingOccurrences(of: "?", with: "$\(i + 1)", options: [], range: numbered.range(of: "?")) }
            return try database.connect().queryOne(numbered, arguments.map { .init($0) }) { $0.double(0) } ?? nil
        })
    }

    /// `count` runners on `queue` at once, each with its own store, until the queue is empty.
    static func runTogether(_ count: Int, on queue: Queue, server: MockServer,
                            _ configure: @Sendable (inout RunOptions) -> Void) async throws -> [RunSummary] {
        var options = RunOptions()
        options.batch = queue.batch
        options.retry = RetryPolicy(maxAttempts: 6, baseDelay: 0.01, maxDelay: 0.1)
        options.flushInterval = 0.05
        options.leaseSeconds = 10
        options.stallTimeout = 5
        configure(&options)
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        let runners = (0..<count).map { _ in BatchRunner(location: queue.location, options: options, router: router) }
        return try await withThrowingTaskGroup(of: RunSummary.self) { group in
            for runner in runners { group.addTask { try await runner.run() } }
            var summaries: [RunSummary] = []
            for try await summary in group { summaries.append(summary) }
            return summaries
        }
    }

    // MARK: The request rate across runners

    static let rpm = 120
    /// A full bucket (one minute's budget, 120) and 24 more, which the refill lets through at two
    /// a second: runners sharing the limit take at least 12 s, runners each applying it alone
    /// (three buckets of 120) send all 144 at once.
    static let rateJobs = 144

    /// Three runners with `rpm` 120 send the jobs; the k-th request the mock received must have
    /// come no sooner than one bucket and its refill since the first request allow:
    /// `k <= 120 + (t_k - t_1) * 2/s + slack`. The slack (5 requests) covers the time between
    /// a runner's first permit and that request reaching the mock. The bound only grows when a
    /// loaded machine is slow; runners that do not share the limit send all 144 within the first
    /// second or two, 19 over it.
    func threeRunnersHoldOneRequestRate(on queue: Queue) async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(1))) { server in
            let summaries = try await Self.runTogether(3, on: queue, server: server) {
                $0.concurrency = 16
                $0.requestsPerMinute = Self.rpm
            }
            #expect(summaries.map(\.succeeded).reduce(0, +) == Self.rateJobs, "\(summaries)")
            let arrivals = server.timeline().requests.sorted()
            #expect(arrivals.count == Self.rateJobs)
            guard let first = arrivals.first else { return }
            let slack = 5.0
            var over: [String] = []
            for (i, t) in arrivals.enumerated() {
                let allowed = Double(Self.rpm) + (t - first) * Double(Self.rpm) / 60 + slack
                if Double(i + 1) > allowed { over.append("request \(i + 1) at +\(String(format: "%.2f", t - first)) s (allowed \(Int(allowed)))") }
            }
            #expect(over.isEmpty, "\(over.count) requests over the shared rate, first: \(over.prefix(3))")
        }
    }

    @Test func threeRunnersOnOneSQLiteFileHoldTheProvidersRequestRateTogether() async throws {
        try await threeRunnersHoldOneRequestRate(on: Self.sqlite(Self.lines(Self.rateJobs, maxTokens: 5)))
    }

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func threeRunnersOnOnePostgresDatabaseHoldTheProvidersRequestRateTogether() async throws {
        try await threeRunnersHoldOneRequestRate(on: Self.postgres(Self.lines(Self.rateJobs, maxTokens: 5)))
    }

    // MARK: A 429 pauses every runner

    /// What the 429 asks to wait: long enough to tell a shared pause from none on a loaded machine.
    static let retryAfter = 6.0

    /// Two runners, the third job's first attempt answered with a 429 and `retry-after: 6`. The
    /// runner that got it pauses at once; the other learns of it the next time it takes permits
    /// from the database (within a second): from 2.5 s after the 429 until its end, the mock
    /// receives nothing. Without a shared pause the other runner goes on sending its jobs there.
    func a429PausesEveryRunner(on queue: Queue) async throws {
        let config = MockConfig(chunkDelay: .milliseconds(20), retryAfterMs: Int(Self.retryAfter * 1000))
        try await withMockServer(config: config) { server in
            let summaries = try await Self.runTogether(2, on: queue, server: server) { $0.concurrency = 2 }
            #expect(summaries.map(\.succeeded).reduce(0, +) == 40, "\(summaries)")
            let timeline = server.timeline()
            let rateLimited = try #require(timeline.faults.first { $0.kind == "429" }?.at)
            let paused = timeline.requests.filter { $0 > rateLimited + 2.5 && $0 < rateLimited + Self.retryAfter - 0.5 }
            #expect(paused.isEmpty, "\(paused.count) requests during the pause, at +\(paused.map { String(format: "%.2f", $0 - rateLimited) })")
            // Work was left for the pause to hold back: the jobs went on after it.
            #expect(timeline.requests.filter { $0 >= rateLimited + Self.retryAfter - 0.5 }.count >= 10)
        }
    }

    @Test func a429SeenByOneRunnerPausesTheOthersOnOneSQLiteFile() async throws {
        try await a429PausesEveryRunner(on: Self.sqlite(Self.lines(40, faulty: [2], maxTokens: 10)))
    }

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func a429SeenByOneRunnerPausesTheOthersOnOnePostgresDatabase() async throws {
        try await a429PausesEveryRunner(on: Self.postgres(Self.lines(40, faulty: [2], maxTokens: 10)))
    }

    // MARK: An outage pauses every runner

    /// The mock is down (503) for 5 s. Runner A finds it down and probes it (at 1, 3, 7 s); only
    /// once A has written that to the database does runner B start. B sends nothing until A's
    /// probe gets an answer: none of B's attempts met the outage. Without a shared outage, B's
    /// first requests fail with 503s.
    func anOutageOneRunnerProbesHoldsTheOthers(on queue: Queue) async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(10))) { server in
            server.beginOutage(for: .seconds(5), kind: .overloaded)
            var options = RunOptions()
            options.batch = queue.batch
            options.concurrency = 2
            options.retry = RetryPolicy(maxAttempts: 6, baseDelay: 0.01, maxDelay: 0.1)
            options.flushInterval = 0.05
            options.leaseSeconds = 10
            // Probes 2 s apart at least: A's pause lasts a probe interval past its next probe, and
            // on a loaded machine A's probe can be late by a second (the pause then lapsed while
            // the mock was still down, and B met a 503).
            options.probeInterval = 2...4
            let router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
            let a = BatchRunner(location: queue.location, options: options, router: router)
            let b = BatchRunner(location: queue.location, options: options, router: router)
            async let first = a.run()
            try await eventually("runner A found the provider down and told the other runners") {
                try queue.number("SELECT count(*) FROM provider_budgets WHERE unreachable_until > 0", []) == 1
            }
            async let second = b.run()
            let summaries = try await [first, second]
            #expect(summaries.map(\.succeeded).reduce(0, +) == 20, "\(summaries)")
            let attemptsOfB = try queue.number("SELECT count(*) FROM attempts WHERE runner = ?", [b.runnerID]) ?? 0
            let failedOfB = try queue.number("SELECT count(*) FROM attempts WHERE runner = ? AND http_status = 503", [b.runnerID]) ?? 0
            #expect(attemptsOfB > 0 && failedOfB == 0, "runner B: \(attemptsOfB) attempts, \(failedOfB) of them 503")
            #expect(server.stats().faultsByKind["503"] ?? 0 >= 3)
        }
    }

    @Test func anOutageOneRunnerProbesHoldsTheOthersOnOneSQLiteFile() async throws {
        try await anOutageOneRunnerProbesHoldsTheOthers(on: Self.sqlite(Self.lines(20, maxTokens: 10)))
    }

    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func anOutageOneRunnerProbesHoldsTheOthersOnOnePostgresDatabase() async throws {
        try await anOutageOneRunnerProbesHoldsTheOthers(on: Self.postgres(Self.lines(20, maxTokens: 10)))
    }
}
