import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

@Suite("Resume: continuing cut streams and failed batches")
struct ResumeTests {
    /// Drop the stream after k chunks, for every k from 0 to past the end; the next attempt
    /// continues from the kept text (prefill) and the stored text is exact, with nothing doubled.
    @Test(arguments: ["gpt-4o-mini", "claude-sonnet-4-5"])
    func dropAfterEveryKContinuesExactly(model: String) async throws {
        let messages: [JSONValue] = [["role": "user", "content": "Describe the seam"]]
        let length = MockContent.tokens(model: model, messages: messages).count
        for k in 0...(length + 1) {
            // A fresh mock per k: its fault counter is per conversation, and every k uses the same one.
            let server = try await MockServer.start(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: k))
            let fixture = try Fixture(lines: [["custom_id": "seam", "model": .string(model), "messages": .array(messages), "max_tokens": 200]])
            let summary = try await fixture.run(server) { $0.continuePartial = true }
            try? await server.shutdown()
            #expect(summary.exitCode == 0, "k = \(k)")
            try fixture.expectAllExact()
            if k > 0 && k < length {
                // The second attempt was a continuation of the k chunks kept.
                #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE continued_from_chars > 0") == 1, "k = \(k)")
                #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'retry' AND error_kind = 'interrupted' AND received_text <> ''") == 1, "k = \(k)")
            }
            // Usage stays right: the completion tokens spent add up to the whole reply.
            #expect(try fixture.scalar("SELECT completion_tokens FROM jobs") == length, "k = \(k)")
        }
    }

    @Test func withoutPrefillSupportTheJobRestartsAndTheLostPartialStaysInTheHistory() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.drop], maxFaultsPerRequest: 1, faultAfterChunks: 5)) { server in
        let fixture = try Fixture(count: 10)
        let summary = try await fixture.run(server)  // OpenAI without --continue-partial
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE continued_from_chars IS NOT NULL") == 0)
        #expect(try fixture.scalar("SELECT count(DISTINCT job_id) FROM attempts WHERE outcome = 'retry' AND error_kind = 'interrupted' AND length(received_text) > 0") == 10)
    }
    }

    @Test func aBatchThatFailedForGoodIsFinishedByResume() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.serverError], maxFaultsPerRequest: 3)) { server in
        let fixture = try Fixture(count: 25)
        let first = try await fixture.run(server) { $0.retry.maxAttempts = 2 }
        #expect(first.failed == 25)
        #expect(first.exitCode == 1)
        try fixture.expectCountsMatchJobs()
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "test")
        #expect(try await queue.resume(batch: fixture.batchID, all: false, retryableKinds: ["server_error"]) == 25)
        try fixture.expectCountsMatchJobs()
        let second = try await fixture.run(server) { $0.retry.maxAttempts = 2 }
        try fixture.expectCountsMatchJobs()
        #expect(second.exitCode == 0)
        try fixture.expectAllExact()
        // 2 failed attempts, then resume: attempt 3 fails (the mock's third fault), attempt 4 succeeds.
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE attempts = 4 AND attempt_base = 2") == 25)
    }
    }

    @Test func resumeNeverRerunsSucceededJobs() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 10)
        _ = try await fixture.run(server)
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "test")
        #expect(try await queue.resume(batch: fixture.batchID, all: true, retryableKinds: []) == 0)
        _ = try await fixture.run(server)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts") == 10)
    }
    }

    /// A 1,000-job batch run by the real binary, SIGKILLed at several random moments, each time
    /// taken up again; then finished. Every job exact, one output each, integrity ok.
    @Test func thousandJobsKilledRepeatedlyThenFinishedExactly() async throws {
        let fixture = try Fixture(count: 1000, models: ["gpt-4o-mini", "claude-sonnet-4-5"])
        var rng = SystemRandomNumberGenerator()
        for round in 0..<3 {
            // ~20 s for the whole batch if left alone, so every kill lands mid-run.
            let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--mock", "--mock-chunk-delay-ms", "20",
                                            "--concurrency", "64", "--lease-seconds", "1", "--continue-partial"],
                                           directory: fixture.directory)
            // Once it is streaming (however long the start takes on a loaded machine), a random moment later.
            for _ in 0..<1500 where try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0 {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            try await Task.sleep(nanoseconds: UInt64.random(in: 100_000_000...800_000_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            _ = try await ChoreoBinary.wait(p)
            #expect(try fixture.integrityCheck() == "ok", "round \(round)")
            try await Task.sleep(nanoseconds: 1_100_000_000)  // let the dead runner's leases expire
        }
        try await withMockServer { server in
        let summary = try await fixture.run(server) { $0.continuePartial = true }
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        // The token counts survive the kills too: each answer's completion tokens are its own,
        // whichever partial a kill left behind (issue 12.7).
        var tokens: [String: Int] = [:]
        try Database(path: fixture.databasePath, readOnly: true).query("SELECT custom_id, completion_tokens FROM jobs") {
            tokens[$0.string(0)!] = $0.int(1)
        }
        let wrongTokens = fixture.jobs.filter { tokens[$0.customID] != MockContent.tokens(model: $0.model, messages: $0.messages).count }
        #expect(wrongTokens.isEmpty, "\(wrongTokens.count) jobs with wrong completion tokens, e.g. \(wrongTokens.prefix(3).map(\.customID))")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE output IS NOT NULL") == 1000)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'runner_lost'") > 0)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 0)
        #expect(try fixture.integrityCheck() == "ok")
    }
    }

    /// An exhausted quota stops the provider: logged once, not once a job it does not send; the
    /// run's last lines name it and count those jobs, with the command that sends them once the
    /// account is fixed; that command (`choreo resume`, no `--all`) requeues exactly those, then
    /// runs them.
    @Test func theJobsAStoppedProviderDidNotSendAreNamedAndResumeSendsThem() async throws {
        try await withMockServer { server in
            let dir = TemporaryDirectory("choreo-stopped")
            var lines = [#"{"custom_id":"refused","model":"gpt-4o-mini","messages":[{"role":"user","content":"No quota"}],"mock":{"fault":"quota","times":1}}"#]
            lines += (1...5).map { #"{"custom_id":"j\#($0)","model":"gpt-4o-mini","messages":[{"role":"user","content":"Question \#($0)"}]}"# }
            try (lines.joined(separator: "\n") + "\n").write(to: dir.url.appendingPathComponent("jobs.jsonl"), atomically: true, encoding: .utf8)
            let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test", "CHOREO_DB": dir.url.appendingPathComponent("db.sqlite").path]
            let submitted = try await ChoreoBinary.run(["submit", dir.url.appendingPathComponent("jobs.jsonl").path], environment: env)
            let batch = try #require(submitted.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
                .first { $0.hasPrefix("batch_") }, "\(submitted.output)")
            let run = try await ChoreoBinary.run(["run", "--concurrency", "1"], environment: env)
            #expect(run.status == 1, "\(run.output)")
            #expect(run.output.contains("provider openai stopped for this run: openai returned HTTP 429 insufficient_quota"), "\(run.output)")
            #expect(run.output.contains("provider openai was stopped: openai returned HTTP 429 insufficient_quota")
                    && run.output.contains("5 of its jobs were not sent (provider_stopped): once that is fixed (the key, the account, the base URL), "
                                           + "`choreo resume BATCH` sends them"), "\(run.output)")
            // One line for the job refused; none for each job not sent (the stop's line says it).
            #expect(run.output.contains("job=refused kind=quota failed: "), "\(run.output)")
            #expect(!run.output.contains("not sent: provider"), "a line a job not sent: \(run.output)")
            #expect(server.stats().requests == 1)
            let status = try await ChoreoBinary.run(["status", batch], environment: env)
            #expect(status.output.contains("failures  provider_stopped 5, quota 1; provider_stopped were never sent "
                                           + "(`choreo resume \(batch)` sends them)"), "\(status.output)")
            // The account is topped up (the mock's fault was for one request): resume sends the five.
            let resumed = try await ChoreoBinary.run(["resume", batch], environment: env)
            #expect(resumed.status == 0, "every job it ran succeeded: \(resumed.output)")
            #expect(resumed.output.contains("requeued 5 jobs of \(batch)"), "\(resumed.output)")
            let db = try Database(path: env["CHOREO_DB"]!, readOnly: true)
            #expect(try db.queryOne("SELECT group_concat(state || ':' || coalesce(error_kind, ''), ',') FROM (SELECT * FROM jobs ORDER BY custom_id)") {
                $0.string(0) } == "succeeded:,succeeded:,succeeded:,succeeded:,succeeded:,failed:quota")
            #expect(server.stats().requests == 6)
        }
    }
}
