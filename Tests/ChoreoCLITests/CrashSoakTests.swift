import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// The crash-and-fault soak: the real `choreo` binary runs a batch across the three wire formats
/// against a mock provider that injects faults (drops, 429s, 5xx, stalls, malformed chunks), and
/// is SIGKILLed again and again at moments chosen by what it is doing; each time a new runner
/// takes the batch up at once (the dead runner's jobs come back when their short lease expires).
/// At the end every job must hold exactly the uninterrupted answer (the mock's answer is a pure
/// function of the request) and its token budget, with one succeeded attempt each, every attempt
/// closed, trigger-kept counts that match, and an intact database.
///
/// CI runs it small. `scripts/soak.sh` runs it large through the same code, sized by
/// `CHOREO_SOAK_JOBS`, `CHOREO_SOAK_KILLS` and `CHOREO_SOAK_SEED` (RELIABILITY.md, "Soak").
@Suite("Crash and fault soak")
struct CrashSoakTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var jobs: Int { Int(environment["CHOREO_SOAK_JOBS"] ?? "") ?? 120 }
    static var kills: Int { Int(environment["CHOREO_SOAK_KILLS"] ?? "") ?? 4 }
    static var seed: UInt64 { UInt64(environment["CHOREO_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000) }
    static let models = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]

    /// When a runner is killed: each kill waits for one of these events, picked by the seed, so
    /// kills land in every phase of a job's life.
    enum KillMoment: CaseIterable {
        /// More jobs finished since the runner started (between results, or mid-write).
        case results
        /// More attempts started (requests on the wire, before their first text is written).
        case attempts
        /// More partial text written for jobs still running (mid-stream).
        case partials
    }

    @Test func jobsKilledAndFaultedRepeatedlyEndExactOnce() async throws {
        let seed = Self.seed
        let jobs = Self.jobs, kills = Self.kills
        var rng = SeededRandom(state: seed)
        // The provider outlives the runners, as a real one does: its fault schedule (per request and
        // attempt) goes on across kills.
        try await withMockServer(config: MockConfig(
            chunkDelay: .milliseconds(8), faultRate: 0.3, maxFaultsPerRequest: 2, seed: seed, retryAfterMs: 50)) { server in
        let fixture = try Fixture(lines: (0..<jobs).map { i in
            var o: [String: JSONValue] = [
                "custom_id": .string(String(format: "soak-%05d", i)), "model": .string(Self.models[i % 3]),
                "messages": [["role": "user", "content": .string("Soak question \(i): tell me about seams 🧵 and Ωmega")]],
            ]
            // Some replies are cut by their budget, so continuations must land on it exactly.
            if i % 7 == 0 { o["max_tokens"] = .int(Int64(5 + i % 23)) }
            return .object(o)
        })
        let base = server.baseURL
        let environment = ["OPENAI_BASE_URL": base + "/v1", "ANTHROPIC_BASE_URL": base, "GEMINI_BASE_URL": base + "/v1beta",
                           "CHOREO_CONFIG": ""]
        // Attempts are many: every kill costs the jobs in flight one, and each continuation is a new
        // request to the mock, with faults of its own. A job that failed for good would fail the test.
        let arguments = ["run", "--db", fixture.databasePath, "--concurrency", "32", "--lease-seconds", "1",
                         "--stall-timeout", "2", "--max-attempts", "100", "--continue-partial", "--flush-interval-ms", "20",
                         "--quiet"]
        let context = "seed \(seed) (CHOREO_SOAK_SEED=\(seed) CHOREO_SOAK_JOBS=\(jobs) CHOREO_SOAK_KILLS=\(kills))"
        let finished = "SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')"
        let started = "SELECT count(*) FROM attempts"
        var killed = 0
        for _ in 0..<kills {
            if try fixture.scalar(finished) == jobs { break }
            let moment = KillMoment.allCases[rng.below(KillMoment.allCases.count)]
            let since = Date().timeIntervalSince1970
            let (query, target) = switch moment {
            case .results: (finished, try fixture.scalar(finished) + 1 + rng.below(max(1, jobs / (kills * 2))))
            case .attempts: (started, try fixture.scalar(started) + 1 + rng.below(64))
            case .partials: ("SELECT count(*) FROM partials WHERE state = 'running' AND partial_output <> '' AND updated_at > \(since)",
                             1 + rng.below(16))
            }
            let p = try ChoreoBinary.start(arguments, directory: fixture.directory, environment: environment)
            let moved = try await eventually(timeout: 120) { try !p.isRunning || fixture.scalar(query) >= target }
            #expect(moved, "\(context): the runner made no progress (\(moment)) in 120 s")
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killed += 1
            }
            _ = try await ChoreoBinary.wait(p)
            #expect(try fixture.integrityCheck() == "ok", "\(context)")
        }
        // The last runner is left alone to finish, taking back the jobs the dead one held.
        let last = try ChoreoBinary.start(arguments, directory: fixture.directory, environment: environment)
        let code = try await ChoreoBinary.wait(last, timeout: 600)
        #expect(code == 0, "\(context): the final run exited \(code) after \(killed) kills")
        try fixture.expectAllExact()

        // Budgets are exact across continuations: every answer carries exactly its own tokens, and a
        // reply cut by max_tokens has exactly that many.
        var tokens: [String: Int] = [:]
        let db = try Database(path: fixture.databasePath, readOnly: true)
        try db.query("SELECT custom_id, coalesce(completion_tokens, -1) FROM jobs") { tokens[$0.string(0)!] = $0.int(1)! }
        let wrongBudgets = fixture.jobs.compactMap { j -> String? in
            let expected = min(j.maxTokens ?? .max, MockContent.tokens(model: j.model, messages: j.messages).count)
            return tokens[j.customID] == expected ? nil : "\(j.customID): \(tokens[j.customID] ?? -1) of \(expected)"
        }
        #expect(wrongBudgets.isEmpty, "\(context): completion tokens wrong for \(wrongBudgets.count) jobs, e.g. \(wrongBudgets.prefix(3))")
        // One result per job: exactly one attempt succeeded, and the history is closed.
        #expect(try fixture.scalar("SELECT count(*) FROM (SELECT job_id FROM attempts WHERE outcome = 'succeeded' GROUP BY job_id HAVING count(*) = 1)") == jobs,
                "\(context)")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == jobs, "\(context)")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 0, "\(context)")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE partial_output IS NOT NULL OR lease_owner IS NOT NULL OR id IN (SELECT job_id FROM live_partials)") == 0, "\(context)")
        #expect(try fixture.integrityCheck() == "ok", "\(context)")
        try fixture.expectCountsMatchJobs()
        // The soak did soak: the mock injected faults, and every kill that was asked for happened
        // (unless the batch finished first, which a small size rarely allows).
        #expect(server.stats().faults > 0, "\(context)")
        if killed < kills { #expect(try fixture.scalar(finished) == jobs, "\(context)") }
        let killedAttempts = try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'runner_lost'")
        let continued = try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND continued_from_chars > 0")
        print("soak: \(context): \(jobs) jobs, \(killed) SIGKILLs, \(server.stats().faults) faults injected, "
              + "\(try fixture.scalar(started)) attempts, \(killedAttempts) cut by a kill, \(continued) answers ended by a continuation")
    }
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; true when it held.
    private func eventually(timeout: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return try condition()
    }
}

/// SplitMix64: the soak's own choices (kill moments), reproducible from its seed.
private struct SeededRandom {
    var state: UInt64

    mutating func below(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
