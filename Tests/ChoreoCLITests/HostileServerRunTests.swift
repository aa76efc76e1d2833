import ChoreoMock
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing
@testable import ChoreoAI
@testable import ChoreoBatch

/// The runner against servers that misbehave: absurd waits, endless streams, garbled replies,
/// keys echoed back. Runs end on time, one broken reply stops nothing, and no key is stored.
@Suite("Hostile servers: the runner")
struct HostileServerRunTests {
    static let key = "sk-hostile-0123456789abcdef"

    /// Runs the real `choreo run` on `fixture` against `server` and returns its exit status and
    /// how long it took.
    func runCLI(_ fixture: Fixture, _ server: ScriptedServer, _ arguments: [String], environment: [String: String] = [:],
                timeout: Double = 60) async throws -> (status: Int32, seconds: Double) {
        let started = Date()
        var env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "GEMINI_BASE_URL": server.baseURL + "/v1beta",
                   "ANTHROPIC_BASE_URL": server.baseURL, "CHOREO_CONFIG": ""]
        for (k, v) in environment { env[k] = v }
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath] + arguments, directory: fixture.directory, environment: env)
        let status = try await ChoreoBinary.wait(p, timeout: timeout)
        return (status, Date().timeIntervalSince(started))
    }

    static let rateLimited = #"{"error":{"message":"slow down","type":"rate_limit_error"}}"#

    /// Each server answers every request with a 429 (or, for the last, a 200 whose headers say
    /// the budget is gone for 999999 hours): before, these crashed the runner or paused the
    /// provider far past `--deadline`. Every run now ends at its deadline with exit 3.
    @Test func absurdWaitsEndTheRunAtItsDeadlineWithExit3() async throws {
        let cases: [(name: String, status: String, headers: [String])] = [
            ("retry-after 1e308", "429 Too Many Requests", ["Retry-After: 1e308"]),
            ("retry-after inf", "429 Too Many Requests", ["Retry-After: inf"]),
            ("retry-after 1e23", "429 Too Many Requests", ["Retry-After: 99999999999999999999999"]),
            ("retry-after 999999999", "429 Too Many Requests", ["Retry-After: 999999999"]),
            ("retry-after 2099", "429 Too Many Requests", ["Retry-After: Thu, 01 Jan 2099 00:00:00 GMT"]),
            ("retry-after-ms 1e400", "429 Too Many Requests", ["retry-after-ms: 1e400"]),
            ("retry-after-ms 1e22", "429 Too Many Requests", ["retry-after-ms: 1e22"]),
            ("retry-after-ms 999999999999", "429 Too Many Requests", ["retry-after-ms: 999999999999"]),
            ("reset 1e20s", "429 Too Many Requests",
             ["x-ratelimit-limit-requests: 100", "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 99999999999999999999s"]),
            ("reset 999999h on a 429", "429 Too Many Requests",
             ["x-ratelimit-limit-requests: 100", "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 999999h"]),
            ("reset 999999h on a 200", "200 OK",
             ["x-ratelimit-limit-requests: 100", "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 999999h"]),
        ]
        // All at once: each run waits for its deadline.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in cases {
                group.addTask {
                    try await withScriptedServer(answering: { _ in
                        if c.status.hasPrefix("200") {
                            return [.send(ScriptedServer.eventStreamHead(c.headers) + ScriptedServer.openAIStream("ok"))]
                        }
                        return [.send(ScriptedServer.errorReply(status: c.status, headers: c.headers, json: Self.rateLimited))]
                    }) { server in
                    let fixture = try Fixture(count: 12)
                    let (status, seconds) = try await runCLI(fixture, server, ["--deadline", "3s", "--concurrency", "4", "--quiet"], timeout: 40)
                    #expect(status == 3, "\(c.name): exit \(status)")
                    #expect(seconds < 15, "\(c.name): the run took \(seconds) s with --deadline 3s")
                    #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0, "\(c.name)")
                    // The server's wait was honoured (clamped), not given up on: nothing failed for good.
                    #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'failed'") == 0, "\(c.name)")
                    #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") >= 8, "\(c.name)")
                }
            }
            }
            try await group.waitForAll()
        }
    }

    /// Every slot busy with a stream that never ends (a line every 200 ms, so never stalled):
    /// `--deadline` still ends the run on time.
    @Test func theDeadlineEndsARunWhoseEverySlotIsBusy() async throws {
        let chunk = #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"."},"finish_reason":null}]}"# + "\n\n"
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()), .repeating([.send(chunk), .pause(seconds: 0.2)], times: 300)]
        }) { server in
        let fixture = try Fixture(count: 4)
        let (status, seconds) = try await runCLI(fixture, server, ["--deadline", "4s", "--concurrency", "2", "--quiet"], timeout: 40)
        #expect(status == 3)
        #expect(seconds < 14, "the run took \(seconds) s with --deadline 4s")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") == 2)  // what streamed was kept
    }
    }

    /// Every request waits for a head that never comes: no task waits with it (the run's requests
    /// go out without one), yet the deadline stops them and the run returns with their jobs given
    /// back, without the process's abort after its grace period.
    @Test func theDeadlineEndsARunWhoseEveryRequestWaitsForItsHead() async throws {
        try await withScriptedServer(answering: { _ in [.pause(seconds: 600)] }) { server in
        let fixture = try Fixture(count: 4)
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options {
            $0.concurrency = 2
            $0.stallTimeout = 600  // silence does not end the requests first
            // Time for both requests to go out first, with the tests beside it loading both cores.
            $0.deadline = Date().addingTimeInterval(5)
        }, router: router)
        let ended = Locked<RunSummary?>(nil)
        let run = Task { let summary = try await runner.run(); ended.withLock { $0 = summary } }
        defer { run.cancel() }
        try await eventually("the run ends after its deadline") { ended.withLock { $0 } != nil }
        #expect(ended.withLock { $0 }?.ending == .deadline)
        #expect(server.requests.count == 2)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 4)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND headers_ms IS NULL") == 2)
    }
    }

    /// One garbled reply (HTTP/9.9, then an HTTP/0.9 body) to one job each: those attempts are
    /// retried as protocol errors; the provider is not stopped and every job succeeds.
    @Test func aGarbledReplyIsRetriedAndStopsNothing() async throws {
        let garbled = Locked<Set<String>>([])
        try await withScriptedServer(answering: { request in
            for (job, reply) in [("number 1:", "HTTP/9.9 200 OK\r\n\r\ndata: x\n\n"), ("number 3:", "garbage without a status line\n")]
            where request.bodyText.contains(job) {
                if garbled.withLock({ $0.insert(job).inserted }) { return [.send(reply)] }
            }
            return [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("fine"))]
        }) { server in
        let fixture = try Fixture(count: 8)
        let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 2 }
        #expect(summary.exitCode == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'fine'") == 8)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'protocol_error'") == 2)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'bad_request'") == 0)
    }
    }

    /// Every answer whole, `[DONE]` included, and then the response left open: each job succeeds
    /// with its one attempt, a moment after its terminal event. Before, each attempt failed as
    /// stalled after the stall timeout and the job was asked again, and again.
    @Test func wholeAnswersWhoseResponsesNeverEndSucceedOnTheirFirstAttempt() async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("whole")), .pause(seconds: 600)]
        }) { server in
        let fixture = try Fixture(count: 8)
        let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 8 }
        #expect(summary.exitCode == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'whole'") == 8)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts") == 8)
        #expect(server.requests.count == 8)
    }
    }

    /// A gateway that echoes the key inside the stream: the stored error says `[redacted key]`
    /// and the key is nowhere in the database file.
    @Test func anInBandErrorEchoingTheKeyIsStoredRedacted() async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()),
             .send(#"data: {"error":{"message":"gateway refused key \#(Self.key)","type":"server_error"}}"# + "\n\n")]
        }) { server in
        let fixture = try Fixture(count: 2)
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices { router.providers[i].apiKey = Self.key }
        let summary = try await BatchRunner(databasePath: fixture.databasePath,
                                            options: fixture.options { $0.retry.maxAttempts = 2 }, router: router).run()
        #expect(summary.exitCode == 1)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_message LIKE '%[redacted key]%'") == 4)
        let db = try Data(contentsOf: URL(fileURLWithPath: fixture.databasePath))
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: fixture.databasePath + "-wal"))) ?? Data()
        #expect(db.range(of: Data(Self.key.utf8)) == nil && wal.range(of: Data(Self.key.utf8)) == nil, "the key is in the database file")
    }
    }
}

@Suite("Provider gate: server waits are bounded")
struct ProviderGateBoundTests {
    @Test(arguments: [Double.infinity, 1e308, 999_999_999, -.infinity, .nan, -5])
    func aPauseNeverOutlastsTheMaximumWait(seconds: Double) {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: nil)
        gate.pause(for: seconds)
        let left = gate.pausedUntil - Date().timeIntervalSince1970
        #expect(left <= RetryHints.maxWait + 1, "\(seconds) paused the provider for \(left) s")
    }

    @Test func anExhaustedBudgetWithAnAbsurdResetPausesForTheMaximumWaitAtMost() {
        let gate = ProviderGate(name: "p", maxConcurrency: nil, requestsPerMinute: nil, tokensPerMinute: nil)
        var info = RateLimitInfo(headers: HeaderFields())
        info.limitRequests = 100
        info.remainingRequests = 0
        info.resetRequests = .infinity
        info.limitTokens = 1000
        info.remainingTokens = 1
        info.resetTokens = 1e308
        gate.observe(info, estimatedTokens: 10)
        #expect(gate.pausedUntil - Date().timeIntervalSince1970 <= RetryHints.maxWait + 1)
    }
}
