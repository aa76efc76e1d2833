import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Testing

/// Per-attempt and per-job timings (issue 18, schema v7) from real streams of the mock.
@Suite struct TimingsTests {
    @Test func aSucceededJobHasItsTimingsOnTheJobAndItsAttempt() async throws {
        // Chunks 20 ms apart: each arrives in a read of its own, so there are gaps to measure even
        // on a fast machine, and none of them is a scheduling hiccup's length on a slow one.
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(20))) { server in
            let fixture = try Fixture(count: 4, maxTokens: 40)
            // No stall retry on a loaded machine: a continuation's attempt measures only its own part.
            _ = try await fixture.run(server) { $0.stallTimeout = 60 }
            try fixture.expectAllExact()
            #expect(try fixture.scalar("SELECT count(*) FROM attempts") == 4)
            let detail = try fixture.scalar("""
                SELECT group_concat(j.custom_id || ': queue ' || j.queue_ms || ' headers ' || j.headers_ms || ' first ' || j.first_token_ms
                  || ' streaming ' || j.streaming_ms || ' chunks ' || j.chunks || ' gaps ' || j.gaps || ' p50 ' || j.gap_p50_ms
                  || ' p95 ' || j.gap_p95_ms || ' max ' || j.gap_max_ms || ' tps ' || j.tokens_per_s, '; ') FROM jobs j
                """, text: true)
            // Every stage measured, consistent with each other, and the same on the job and its attempt.
            #expect(try fixture.scalar("""
                SELECT count(*) FROM jobs j JOIN attempts a ON a.job_id = j.id AND a.number = j.attempts
                WHERE j.state = 'succeeded' AND j.queue_ms >= 0 AND j.headers_ms >= 0 AND j.first_token_ms >= j.headers_ms
                  AND j.streaming_ms >= 0 AND j.chunks >= 10 AND j.bytes_received > 0 AND j.gaps >= 1
                  AND j.gap_p50_ms <= j.gap_p95_ms AND j.gap_p95_ms <= j.gap_max_ms AND j.gaps_over_1s <= j.gaps AND j.tokens_per_s > 0
                  AND a.queue_ms = j.queue_ms AND a.headers_ms = j.headers_ms AND a.first_token_ms = j.first_token_ms
                  AND a.chunks = j.chunks AND a.gaps = j.gaps AND a.tokens_per_s = j.tokens_per_s AND a.bytes_received = j.bytes_received
                """) == 4, "\(detail)")
        }
    }

    /// The head and the first chunks come in one read when the mock does not wait between them:
    /// the transport reads the chunk before the job's task can run again. `headers_ms` is when
    /// the head came (the transport's time), so it is never after `first_token_ms`; stamped by
    /// the task after its wait, 64 jobs at once put it after the first token in some of them.
    @Test func theHeadersAreNeverAfterTheFirstToken() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(count: 256, maxTokens: 5)
            _ = try await fixture.run(server) { $0.stallTimeout = 60 }
            try fixture.expectAllExact()
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE headers_ms IS NOT NULL AND first_token_ms IS NOT NULL") == 256)
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE first_token_ms < headers_ms") == 0)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE first_token_ms < headers_ms") == 0)
        }
    }

    @Test func aCutStreamsAttemptKeepsWhatItsStreamMeasured() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 5)) { server in
            let fixture = try Fixture(count: 2, maxTokens: 30)
            _ = try await fixture.run(server)
            try fixture.expectAllExact()
            #expect(try fixture.scalar("""
                SELECT count(*) FROM attempts WHERE outcome = 'retry' AND headers_ms >= 0 AND first_token_ms >= 0
                  AND chunks >= 1 AND streaming_ms >= 0 AND gaps >= 0
                """) == 2)
        }
    }

    @Test func theGapHistogramReadsPercentilesWithinItsBucket() {
        var h = GapHistogram()
        for ms in 1...100 { h.record(seconds: Double(ms) / 1000) }
        h.record(seconds: 2.5)
        #expect(h.count == 101 && h.overOneSecond == 1 && h.maxSeconds == 2.5)
        let p50 = h.percentile(0.5)! * 1000
        #expect(p50 > 50 / 1.42 && p50 < 50 * 1.42)
        let p95 = h.percentile(0.95)! * 1000
        #expect(p95 > 95 / 1.42 && p95 < 95 * 1.42)
        #expect(GapHistogram().percentile(0.5) == nil)
    }
}
