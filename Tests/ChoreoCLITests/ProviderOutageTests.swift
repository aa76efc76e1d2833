import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing
@testable import ChoreoBatch

/// The log records of a run, kept for assertions.
final class RecordedLog: Sendable {
    private let records = Locked<[RunEvents.Record]>([])
    func append(_ r: RunEvents.Record) { records.withLock { $0.append(r) } }
    var all: [RunEvents.Record] { records.withLock { $0 } }
    var providerLines: [String] { all.filter { $0.kind == "provider_unreachable" }.map(\.message) }
    var jobLines: [String] { all.filter { $0.job != nil }.map(\.message) }
}


@Suite("A provider outage is not a job failure (issue 12)")
struct ProviderOutageTests {
    static let models = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]

    @Test func aWrongBaseURLEndsWithExit3AndEveryJobPendingWithItsAttempts() async throws {
        let refusing = try LoopbackPort.Hold()
        defer { refusing.release() }
        let port = refusing.port
        let fixture = try Fixture(count: 40)
        let log = RecordedLog()
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(port)")
        let options = fixture.options { $0.firstAnswerLimit = 1.5; $0.probeInterval = 0.2...1 }
        let summary = try await BatchRunner(databasePath: fixture.databasePath, options: options, router: router,
                                            events: RunEvents(sink: log.append)).run()
        #expect(summary.exitCode == 3)
        #expect(summary.ending == .unreachable)
        #expect(summary.failed == 0)
        #expect(summary.unreachable.map(\.outage.cause) == ["connection refused at 127.0.0.1:\(port)"])
        #expect(summary.unreachable.map(\.jobsLeft) == [40])
        #expect(summary.unreachable.first?.outage.neverAnswered == true)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 40)
        // At most the first failure (maybe a blip) took an attempt; the outage took none.
        #expect(try fixture.scalar("SELECT max(attempts - attempt_base) FROM jobs") <= 1)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'connect'") >= 3, "the attempts are recorded honestly")
        // One line per provider state change (down, given up), not one per job.
        #expect(log.providerLines.count == 2, "\(log.providerLines)")
        #expect(log.jobLines.count <= 1, "\(log.jobLines)")
        try fixture.expectCountsMatchJobs()
    }

    @Test func aServerStoppedAndRestartedMidRunEndsExactWithNoJobFailed() async throws {
        let config = MockConfig(chunkDelay: .milliseconds(15))
        let server = try await MockServer.start(config: config, sharingPort: true)
        let port = server.port
        let fixture = try Fixture(count: 90, models: Self.models)
        let log = RecordedLog()
        let events = RunEvents(sink: log.append)
        // No stall is part of this outage (the stop closes every connection): a 2 s stall timeout
        // fired on streams of a loaded machine (load 7 on 2 cores), each a second outage per provider.
        let options = fixture.options {
            $0.concurrency = 24; $0.continuePartial = true; $0.probeInterval = 0.2...1; $0.stallTimeout = 60
        }
        let runner = BatchRunner(databasePath: fixture.databasePath, options: options, router: Fixture.router(server), events: events)
        let run = Task { try await runner.run() }
        try await eventually("some jobs succeeded") { events.snapshot.succeeded >= 15 }
        // Held from before the stop to after the restart: no other test's server takes the port
        // meanwhile (one did, in a parallel run), and nothing listens on it in between.
        let hold = try LoopbackPort.Hold(port: port, sharing: true)
        defer { hold.release() }
        try await server.shutdown()
        // Every provider of the mock is paused, and stays so while nothing listens.
        try await eventually("all three providers are down") { events.snapshot.outages.count == 3 }
        // The jobs held at the paused gates show as waiting, not in flight: at most a probe a
        // provider is on its way.
        try await eventually("the jobs at the gates are waiting") {
            let s = events.snapshot
            return s.waiting > 0 && s.inFlight <= 3 && s.inFlight + s.waiting <= 24
        }
        try await withMockServer(port: port, config: config, sharingPort: true) { again in
            hold.release()
            let summary = try await run.value
            #expect(summary.exitCode == 0)
            #expect(summary.failed == 0)
            try fixture.expectAllExact()
            #expect(log.providerLines.filter { $0.contains("answered again") }.count == 3, "\(log.providerLines)")
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'connect'") >= 9)
            // A job cut mid-stream used one attempt, its first refused retry maybe another; the outage none.
            #expect(try fixture.scalar("SELECT max(attempts - attempt_base) FROM jobs") <= 3)
            try fixture.expectCountsMatchJobs()
        }
    }

    @Test func repeated503sPastTheOutageLimitLeaveTheRestPendingWithExit3() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(10))) { server in
            let fixture = try Fixture(count: 60)
            let events = RunEvents()
            let options = fixture.options { $0.concurrency = 8; $0.outageLimit = 1; $0.probeInterval = 0.2...0.5 }
            let runner = BatchRunner(databasePath: fixture.databasePath, options: options, router: Fixture.router(server), events: events)
            let run = Task { try await runner.run() }
            try await eventually("some jobs succeeded") { events.snapshot.succeeded >= 5 }
            server.beginOutage(for: .seconds(600), kind: .overloaded)
            let summary = try await run.value
            #expect(summary.exitCode == 3)
            #expect(summary.ending == .unreachable)
            #expect(summary.failed == 0)
            let host = "127.0.0.1:\(server.port)"
            #expect(summary.unreachable.map(\.outage.cause) == ["HTTP 503 at \(host)"])
            #expect(summary.unreachable.first?.outage.neverAnswered == false)
            let pending = try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'")
            #expect(pending > 0 && pending == summary.unreachable.first?.jobsLeft)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") + pending == 60)
            #expect(try fixture.scalar("SELECT max(attempts - attempt_base) FROM jobs WHERE state = 'pending'") <= 1)
        }
    }

    @Test func aShortOutageOfEmptyRepliesAcrossThreeProvidersEndsExact() async throws {
        // ~8 s of work: the outage begins while jobs stream, however late a loaded machine lets the test see the first ones end.
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(40))) { server in
            let fixture = try Fixture(count: 60, models: Self.models)
            let events = RunEvents()
            // Two attempts only: without the outage handling, the empty replies would fail jobs.
            let options = fixture.options { $0.concurrency = 12; $0.retry.maxAttempts = 2; $0.probeInterval = 0.2...1 }
            let runner = BatchRunner(databasePath: fixture.databasePath, options: options, router: Fixture.router(server), events: events)
            let run = Task { try await runner.run() }
            try await eventually("some jobs succeeded") { events.snapshot.succeeded >= 6 }
            server.beginOutage(for: .seconds(2), kind: .drop)
            let summary = try await run.value
            #expect(summary.exitCode == 0)
            #expect(summary.failed == 0)
            try fixture.expectAllExact()
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'connection_lost'") >= 3)
        }
    }

    /// The stall watchdog firing on every stream says the provider is down too. Each request
    /// stalls on its first three attempts: as three ordinary retries, they would fail both jobs
    /// (`maxAttempts` 3). As an outage, only the first failure of each series uses an attempt (a
    /// series ends when one job is answered, so each job's count is at most 2), and both end exact.
    @Test func streamsThatAllStallAreAnOutageNotFailures() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 2, extra: ["mock": ["fault": "stall", "after": 0, "times": 3]])
            let log = RecordedLog()
            let options = fixture.options { $0.concurrency = 1; $0.retry.maxAttempts = 3; $0.stallTimeout = 1; $0.probeInterval = 0.1...0.2 }
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: options, router: Fixture.router(server),
                                                events: RunEvents(sink: log.append)).run()
            #expect(summary.exitCode == 0)
            #expect(summary.failed == 0)
            try fixture.expectAllExact()
            // At least the six faults: on a loaded machine an unfaulted stream can also outlast the
            // 1 s stall timeout (CI once counted more), and it is an outage's attempt like the others.
            let attempts = try fixture.attemptLog()
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'stalled'") >= 6, "\(attempts)")
            #expect(log.providerLines.contains { $0.contains("stalled") }, "\(log.providerLines)")
        }
    }
}

@Suite("choreo run against an unreachable provider")
struct ProviderOutageProcessTests {
    @Test func aWrongBaseURLExits3WithOneLineNamingTheProviderCauseAndJobsLeft() async throws {
        let refusing = try LoopbackPort.Hold()
        defer { refusing.release() }
        let port = refusing.port
        let fixture = try Fixture(count: 50)
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--first-answer-limit", "2s"], directory: fixture.directory,
                                       environment: ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1"])
        #expect(try await ChoreoBinary.wait(p, timeout: 60) == 3)
        let logs = try FileManager.default.contentsOfDirectory(at: fixture.directory, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasPrefix("choreo-") && $0.pathExtension == "log" }
        let lines = try String(contentsOf: try #require(logs.first), encoding: .utf8).split(separator: "\n").map(String.init)
        let final = lines.filter { $0.contains("jobs left pending; run `choreo run` again") }
        #expect(final.count == 1, "\(lines)")
        #expect(final.first?.contains("provider openai never answered in this run (connection refused at 127.0.0.1:\(port)): 50 jobs left pending") == true,
                "\(final)")
        // Not one line per job: a handful in all.
        #expect(lines.count < 10, "\(lines.joined(separator: "\n"))")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 50)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'failed'") == 0)
    }
}
