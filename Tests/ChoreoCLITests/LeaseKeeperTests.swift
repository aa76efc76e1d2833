import ChoreoAI
import ChoreoLocking
@testable import ChoreoBatch
import ChoreoMock
import ChoreoSQLite
import ChoreoTesting
import Foundation
import Testing

/// A runner whose lease renewals stop getting through stops its streams before its leases can
/// pass, so that a runner taking the jobs over never streams one at the same time (the netns
/// soak shows it end to end, with a runner cut off from PostgreSQL while its provider streams on).
@Suite("Lease keeper: a runner cut off from its database stops its streams in time")
struct LeaseKeeperTests {
    /// A keeper over a claimed job of `fixture` whose stream (stalled after two chunks, so it
    /// cannot end by itself) is registered with the keeper's flusher.
    struct Setup {
        let keeper: LeaseKeeper
        let control: RunControl
        let storage: StorageHealth
        let stream: ChatCompletionStream
        let log: RecordedLog
    }

    func setup(_ server: MockServer, _ fixture: Fixture, client other: ChoreoClient? = nil) async throws -> Setup {
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "r1")
        let job = try #require(try await queue.claim(limit: 1, leaseSeconds: 4, batch: nil).first)
        let client = ChoreoClient(router: Fixture.router(server))
        let stream = try await client.stream(body: try JSONValue.parse(job.request), provider: try client.provider(for: job.model),
                                             delivery: .collected)
        let flusher = PartialFlusher(queue: queue)
        flusher.register(LiveOutput(job: job.id, batch: job.batchID, kept: "", keptTokens: 0, stream: stream))
        let control = RunControl(), storage = StorageHealth(wait: 60), log = RecordedLog()
        let keeper = LeaseKeeper(store: queue, leaseSeconds: 4, storage: storage, events: RunEvents(sink: log.append),
                                 control: control, flusher: flusher, client: other ?? client)
        try await keeper.renew()
        return Setup(keeper: keeper, control: control, storage: storage, stream: stream, log: log)
    }

    @Test func withoutARenewalForThreeQuartersOfTheLeaseTheStreamsStopUntilARenewalGetsThrough() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 2]])
            let s = try await setup(server, fixture)
            s.keeper.watch(now: .now + .seconds(2))  // half the lease since the renewal: nothing to do
            #expect(!s.control.leasesLapsed)
            s.keeper.watch(now: .now + .seconds(3.1))  // past three quarters of it
            #expect(s.control.leasesLapsed)
            #expect(s.log.all.contains { $0.level == .warning && $0.message.contains("stops its streams before its leases can pass") })
            await #expect(throws: CancellationError.self) { _ = try await s.stream.collect() }
            try await s.keeper.renew()
            #expect(!s.control.leasesLapsed, "a renewal that gets through lets the runner take jobs again")
        }
    }

    /// A renewal that hung through the partition and came back when the link did began too long
    /// ago to vouch for the leases: it does not lift the fence (lifting it fenced again at once,
    /// stopping the streams started meanwhile); a renewal sent after it does.
    @Test func aRenewalThatHungThroughThePartitionDoesNotLiftTheFence() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 2]])
            let s = try await setup(server, fixture)
            let start = ContinuousClock.now
            s.keeper.watch(now: start + .seconds(3.1))
            #expect(s.control.leasesLapsed)
            s.keeper.renewed(began: start + .seconds(1), now: start + .seconds(5))  // 4 s on the way: a whole lease
            #expect(s.control.leasesLapsed, "a renewal begun 4 s ago lifted the fence")
            s.keeper.renewed(began: start + .seconds(5), now: start + .seconds(5.1))
            #expect(!s.control.leasesLapsed)
            s.stream.cancel()
        }
    }

    /// Until when the leases surely hold is three quarters of the lease after the latest
    /// renewal that got through; a renewal that began earlier (it hung) never moves it back. A
    /// start confirmed past it is not sent (`JobExecution.launch`: the netns soak once saw a
    /// runner, cut off while its starts were being written, send two jobs that another runner
    /// had taken meanwhile).
    @Test func theLeaseHorizonFollowsTheLatestRenewal() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 2]])
            let before = ContinuousClock.now
            let s = try await setup(server, fixture)
            let first = try #require(s.control.leaseHorizon)
            #expect(first >= before + .seconds(3) && first <= .now + .seconds(3), "the lease is 4 s: \(first)")
            let later = ContinuousClock.now + .seconds(2)
            s.keeper.renewed(began: later, now: later)
            #expect(s.control.leaseHorizon == later + .seconds(3))
            s.keeper.renewed(began: before, now: later + .seconds(1))  // hung since before: no step back
            #expect(s.control.leaseHorizon == later + .seconds(3))
            s.stream.cancel()
        }
    }

    /// A start whose commit is confirmed only past the lease horizon read before it was written
    /// sends nothing, on either path that begins attempts: a chat job's (`JobExecution.launch`)
    /// and an embeddings request's (`EmbeddingsRequest`). Each attempt ends as interrupted, "not
    /// sent", not counted against the job's retries, and the job goes back to the queue. The
    /// horizon here passed before the starts, as when the last renewal to get through was most of
    /// a lease ago (the netns soak reaches it by cutting a runner off while its starts commit).
    @Test func aStartConfirmedPastTheLeaseHorizonSendsNothing() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(lines: [
                ["custom_id": "chat", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "Hi"]]],
                ["custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": ["model": "text-embedding-3-small", "input": "alpha"]],
                ["custom_id": "e2", "method": "POST", "url": "/v1/embeddings", "body": ["model": "text-embedding-3-small", "input": "beta"]],
            ])
            let queue = try JobQueue(path: fixture.databasePath, runnerID: "r1")
            let jobs = try await queue.claim(limit: 3, leaseSeconds: 60, batch: nil)
            #expect(jobs.count == 3)
            let control = RunControl(), log = RecordedLog()
            control.setLeaseHorizon(.now - .seconds(1))
            let events = RunEvents(sink: log.append)
            let run = RunContext(queue: queue, client: ChoreoClient(router: Fixture.router(server)),
                                 gates: ProviderGates(defaultRPM: nil, defaultTPM: nil, events: events), control: control,
                                 flusher: PartialFlusher(queue: queue), options: RunOptions(), events: events, budget: nil, cache: nil)

            let ends = StreamEnds()
            let chat = jobs.filter { $0.endpoint != .embeddings }.map { JobExecution(job: $0, shared: run) }
            let started = await JobExecution.start(chat, ends: ends)
            var launched = started.launched
            for waiting in started.waiting { launched += await JobExecution.start(waiting: waiting, ends: ends).launched }
            try #require(launched == 1, "\(started.done)")
            for e in await ends.take() {
                guard case .failure(let error) = e.end else {
                    Issue.record("the chat job's request went out and ended well")
                    continue
                }
                let result = await e.execution.finish(e, failedWith: error)
                #expect({ if case .interrupted = result { true } else { false } }(), "\(result)")
            }
            let embedded = await EmbeddingsRequest(members: jobs.filter { $0.endpoint == .embeddings }.map { JobExecution(job: $0, shared: run) })
                .send()
            #expect(embedded.count == 2 && embedded.allSatisfy { if case .interrupted = $0.result { true } else { false } }, "\(embedded)")

            #expect(server.stats().requests == 0, "a request went out after its start was confirmed too late")
            let attempts = try fixture.attemptLog()
            #expect(try fixture.scalar("""
                SELECT count(*) FROM attempts WHERE outcome = 'interrupted'
                AND error_message LIKE 'not sent: this attempt''s start was confirmed only after this runner''s leases could have passed%'
                """) == 3, "\(attempts)")
            // Back in the queue, the attempt not counted against the job's retries (`attempt_base`).
            let rows = try fixture.rows()
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempts = 1 AND attempt_base = 1") == 3, "\(rows)")
        }
    }

    /// A request still waiting for its response head has no stream to cancel yet, and through a
    /// cut link the head may never come while the provider generates: the fence stops it too,
    /// and each request sent while fenced. (The netns soak once saw a runner's request, sent just
    /// before its link was cut, outlive its lease: another runner's attempt at the job began
    /// before it ended.)
    @Test func requestsWaitingForTheirHeadsAreStoppedToo() async throws {
        try await withMockServer { server in
        try await withScriptedServer(answering: { _ in [.pause(seconds: 600)] }) { silent in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 2]])
            let client = ChoreoClient(router: ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(silent.port)"))
            let s = try await setup(server, fixture, client: client)
            let body: JSONValue = ["model": "gpt-4o-mini", "messages": [["role": "user", "content": "Hi"]]]
            let provider = try client.provider(for: "gpt-4o-mini")
            let ended = Locked(false)
            let waiting = Task {
                defer { ended.withLock { $0 = true } }
                return try await client.stream(body: body, provider: provider, delivery: .collected)
            }
            defer { waiting.cancel() }
            try await eventually("the request reached the server") { silent.requests.count == 1 }
            s.keeper.watch(now: .now + .seconds(3.1))
            #expect(s.control.leasesLapsed)
            try await eventually("the fence stopped the request waiting for its head") { ended.withLock { $0 } }
            await #expect(throws: CancellationError.self) { _ = try await waiting.value }
            // Sent while fenced: stopped at once, before any answer.
            await #expect(throws: CancellationError.self) {
                _ = try await client.stream(body: body, provider: provider, delivery: .collected)
            }
            try await s.keeper.renew()
            #expect(!s.control.leasesLapsed)
            s.stream.cancel()
        }
        }
    }

    /// A full disk stops every writer, so no other runner can take a job: the streams go on, their
    /// text kept in memory until the disk takes writes again (`--storage-wait`).
    @Test func aFailingStorageDoesNotStopTheStreams() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 1, extra: ["mock": ["fault": "stall", "after": 2]])
            let s = try await setup(server, fixture)
            #expect(s.storage.failed(SQLiteError(code: ResultCode(rawValue: 13), message: "database or disk is full")))
            s.keeper.watch(now: .now + .seconds(10))
            #expect(!s.control.leasesLapsed)
            s.stream.cancel()
        }
    }
}
