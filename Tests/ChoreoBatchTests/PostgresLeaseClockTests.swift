import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoAI
import ChoreoTesting

/// Runners on several machines share one PostgreSQL queue, and their clocks need not agree: a
/// lease is set and compared by the database's clock (`PostgresJobStore.serverClock`), so a runner
/// whose clock is ahead never takes a job another runner still holds, one whose clock is behind
/// never holds a job past its lease, and a retry's backoff lasts as long for every runner. (Each runner's own clock made a runner 40 s ahead take
/// every job leased for 30 s as soon as it was claimed, and stream it a second time.)
@Suite("PostgreSQL leases follow the database's clock")
struct PostgresLeaseClockTests {
    @Test(.enabled(if: PostgresServer.skipReason == nil, "PostgreSQL is not installed here"))
    func runnersWhoseClocksDisagreeTakeNoJobAnotherHolds() async throws {
        let place = try StoreBackend.postgres.place(jobs: 4)
        guard case .postgres(let url) = place.location else { Issue.record("not a PostgreSQL place"); return }
        // Two minutes either way: four leases of 30 s.
        let onTime = try PostgresJobStore(url: url, runnerID: "on-time", leaseSeconds: 30, clockOffset: 0)
        let ahead = try PostgresJobStore(url: url, runnerID: "ahead", leaseSeconds: 30, clockOffset: 120)
        let behind = try PostgresJobStore(url: url, runnerID: "behind", leaseSeconds: 30, clockOffset: -120)

        let held = Set(try await onTime.claim(limit: 2, leaseSeconds: 30, batch: nil).map(\.id))
        #expect(held.count == 2)
        let aheadTook = Set(try await ahead.claim(limit: 4, leaseSeconds: 30, batch: nil).map(\.id))
        #expect(aheadTook.count == 2 && aheadTook.isDisjoint(with: held), "a runner ahead took a job another holds: \(aheadTook) \(held)")
        // Resumed from the machine that is ahead: the jobs in flight stay with their runners.
        #expect(try await ahead.resume(batch: place.batch, all: false, retryableKinds: FailureKind.resumable) == 0)
        #expect(try place.count("SELECT count(*) FROM jobs WHERE state = 'running'") == 4)

        // A lease that has passed by the database's clock is taken back, whatever the runner's
        // clock says: the on-time runner's two, by the runner that is behind.
        try place.execute("UPDATE jobs SET lease_expires_at = extract(epoch FROM clock_timestamp()) - 1 WHERE lease_owner = 'on-time'")
        let behindTook = Set(try await behind.claim(limit: 4, leaseSeconds: 30, batch: nil).map(\.id))
        #expect(behindTook == held)
        // Its leases, set and renewed by the database's clock, hold against the others.
        try await behind.heartbeat(leaseSeconds: 30)
        #expect(try await onTime.claim(limit: 4, leaseSeconds: 30, batch: nil).isEmpty)
        #expect(try await ahead.claim(limit: 4, leaseSeconds: 30, batch: nil).isEmpty)
        #expect(try place.count("""
            SELECT count(*) FROM jobs WHERE lease_owner = 'behind'
            AND lease_expires_at BETWEEN extract(epoch FROM clock_timestamp()) + 25 AND extract(epoch FROM clock_timestamp()) + 31
            """) == 2)

        // A backoff is the same length for every runner: the runner behind gives a job back to be
        // retried in 30 s by its clock, and neither the on-time runner nor the one ahead takes it sooner.
        let job = try #require(behindTook.min())
        let attempt = try await behind.startAttempt(job: job, continuedFromChars: nil)
        try await behind.endAttempt(job: job, attempt: attempt, failure: AttemptFailure(
            kind: "server_error", message: "HTTP 500", httpStatus: 500, requestID: nil, bytesReceived: 0, charsReceived: 0,
            keptPartial: nil, keptPartialTokens: 0, spentPromptTokens: 0, receivedText: nil),
            outcome: .retry, retryAt: Date().timeIntervalSince1970 - 120 + 30)
        #expect(try await onTime.claim(limit: 4, leaseSeconds: 30, batch: nil).isEmpty)
        #expect(try await ahead.claim(limit: 4, leaseSeconds: 30, batch: nil).isEmpty)
        #expect(try place.count("""
            SELECT count(*) FROM jobs WHERE state = 'pending'
            AND not_before BETWEEN extract(epoch FROM clock_timestamp()) + 25 AND extract(epoch FROM clock_timestamp()) + 31
            """) == 1)
    }
}
