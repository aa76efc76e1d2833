import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

@Suite("choreo run against a faulty mock provider")
struct RunnerTests {
    @Test func fiveHundredJobsThroughEveryFaultEndExact() async throws {
        try await withMockServer(config: MockConfig(faultRate: 0.35, maxFaultsPerRequest: 2, seed: 7, retryAfterMs: 50)) { server in
        let fixture = try Fixture(count: 500)
        let summary = try await fixture.run(server) { $0.stallTimeout = Fixture.stallFaults }
        #expect(summary.exitCode == 0)
        #expect(summary.succeeded == 500)
        try fixture.expectAllExact()
        // One output per custom_id (UNIQUE (batch_id, custom_id) holds it), and the retries are on record.
        #expect(try fixture.scalar("SELECT count(DISTINCT custom_id) FROM jobs WHERE output IS NOT NULL") == 500)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'retry'") > 50)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 500)
        #expect(try fixture.scalar("SELECT count(DISTINCT error_kind) FROM attempts WHERE outcome = 'retry'") >= 5)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 0)
        #expect(server.stats().faults > 50)
        #expect(try fixture.integrityCheck() == "ok")
        try fixture.expectCountsMatchJobs()
    }
    }

    @Test func everySlotOfALargeConcurrencyIsFilledAtOnce() async throws {
        // 270 = one claim of 256 plus 14, fewer than the 32 a claim otherwise waits for: those 14
        // must start with the rest, not when the first streams end. Every stream stalls after its
        // first chunk and none ends while the test waits (the stall timeout is far off), so all 270
        // are open at once exactly when no slot waits for another stream to end, however loaded
        // the machine is.
        try await withMockServer { server in
        let fixture = try Fixture(count: 270, extra: ["mock": ["fault": "stall", "after": 1]])
        let run = Task { try await fixture.run(server) { $0.concurrency = 270; $0.stallTimeout = 300 } }
        defer { run.cancel() }
            try await eventually("all 270 streams are open at once", timeout: 120) { server.stats().streamsActive == 270 }
        #expect(server.stats().requests == 270)
        run.cancel()
        let summary = try await run.value
        #expect(summary.ending == .interrupted)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 270)
    }
    }

    @Test func usageTimingsAndResponseAreStored() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 5, maxTokens: 8)
        _ = try await fixture.run(server)
        try fixture.expectAllExact()
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE completion_tokens = 8 AND finish_reason = 'length' AND prompt_tokens > 0 AND first_token_ms IS NOT NULL AND duration_ms IS NOT NULL AND response IS NOT NULL") == 5)
    }
    }

    /// 404s as a base URL with no API behind it answers (`/v1` left out, another server's port):
    /// Ollama's text, FastAPI's `{"detail":"Not Found"}`, OpenAI's `Invalid URL`. Every request
    /// would get the same, so the first stops the provider and the rest are not sent
    /// (`provider_stopped`, which `choreo resume` sends once the URL is fixed); before, every job
    /// was sent and failed for good as `not_found`.
    @Test(arguments: [
        ("text/plain", "404 page not found"),
        ("application/json", #"{"detail":"Not Found"}"#),
        ("application/json", #"{"error":{"message":"Invalid URL (POST /v1/chat/completions)","type":"invalid_request_error","param":null,"code":null}}"#),
    ])
    func aBaseURLWithNoAPIBehindItStopsTheProviderAtTheFirst404(contentType: String, body: String) async throws {
        let reply = ScriptedServer.reply(status: "404 Not Found", contentType: contentType, body: body)
        try await withScriptedServer(answering: { _ in [.send(reply)] }) { server in
            let fixture = try Fixture(count: 10)
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(server.requests.count == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'not_found' AND attempts = 1") == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'provider_stopped' AND attempts = 0") == 9)
            #expect(summary.stoppedProviders.first?.reason.hasSuffix("(no API at this URL: is the provider's base URL right?)") == true,
                    "\(summary.stoppedProviders)")
            try fixture.expectCountsMatchJobs()
        }
    }

    /// A server that ignores `stream` and answers each job with the whole completion as JSON: the
    /// answers are kept, each from its one request (they were asked again until the job failed as
    /// `interrupted`).
    @Test func wholeAnswersToStreamedRequestsAreKept() async throws {
        let json = #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Phobos and Deimos."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#
        let reply = ScriptedServer.reply(contentType: "application/json", body: json)
        try await withScriptedServer(answering: { _ in [.send(reply)] }) { server in
            let fixture = try Fixture(count: 5)
            let summary = try await fixture.run(at: server.baseURL)
            #expect(summary.succeeded == 5 && summary.failed == 0)
            #expect(server.requests.count == 5)
            #expect(try fixture.scalar("""
                SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1 AND output = 'Phobos and Deimos.'
                AND finish_reason = 'stop' AND completion_tokens = 5
                """) == 5)
            try fixture.expectCountsMatchJobs()
        }
    }

    /// A web page where the API should be (a proxy's login page, a web server's): the first one
    /// stops the provider, quoted, as a 404 with no API behind it does.
    @Test func aWebPageInsteadOfAnEventStreamStopsTheProviderAtTheFirst() async throws {
        let page = "<html><head><title>Guest Wi-Fi: please log in</title></head><body></body></html>"
        let reply = ScriptedServer.reply(contentType: "text/html", body: page)
        try await withScriptedServer(answering: { _ in [.send(reply)] }) { server in
            let fixture = try Fixture(count: 10)
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(server.requests.count == 1)
            #expect(try fixture.scalar("""
                SELECT count(*) FROM jobs WHERE error_kind = 'protocol_error' AND attempts = 1
                AND error_message LIKE '%web page, not an event stream: "Guest Wi-Fi: please log in"%'
                """) == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'provider_stopped' AND attempts = 0") == 9)
            #expect(summary.stoppedProviders.first?.reason.hasSuffix("(no API at this URL: is the provider's base URL right?)") == true,
                    "\(summary.stoppedProviders)")
            try fixture.expectCountsMatchJobs()
        }
    }

    /// A 429 is "later", not "no": six in a row use up none of a job's two attempts, and every
    /// job succeeds (each failed as `rate_limited` after its second 429 before). Every 429 is
    /// still an attempt on record.
    @Test func rateLimitsUseUpNoAttempts() async throws {
        try await withMockServer(config: MockConfig(retryAfterMs: 50)) { server in
            let fixture = try Fixture(count: 4, extra: ["mock": ["fault": "429", "times": 6]])
            let summary = try await fixture.run(server) { $0.retry.maxAttempts = 2 }
            #expect(summary.succeeded == 4 && summary.failed == 0 && summary.exitCode == 0)
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'rate_limited'") == 24)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 7") == 4)
            try fixture.expectCountsMatchJobs()
        }
    }

    /// A provider that answers nothing but 429s (a daily quota spent) for the outage limit is
    /// given up as an outage is: its jobs stay pending, unfailed, for the next run; exit 3.
    @Test func aProviderThatAnswersOnly429sIsGivenUpAtTheOutageLimit() async throws {
        try await withMockServer(config: MockConfig(retryAfterMs: 50)) { server in
            let fixture = try Fixture(count: 6, extra: ["mock": ["fault": "429", "times": 1_000]])
            let summary = try await fixture.run(server) { $0.outageLimit = 0.5; $0.retry.maxAttempts = 2 }
            #expect(summary.exitCode == 3 && summary.ending == .unreachable)
            #expect(summary.failed == 0)
            #expect(summary.unreachable.map(\.outage.cause) == ["\(RequestFailure.rateLimitedReason) at 127.0.0.1:\(server.port)"])
            #expect(summary.unreachable.first?.jobsLeft == 6)
            #expect(summary.unreachable.first?.outage.remedy == "run `choreo run` again once its rate limit resets")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 6)
            try fixture.expectCountsMatchJobs()
        }
    }

    /// OpenAI's 429 for a request larger than the account's whole limit a minute: no wait lets it
    /// through, so it fails its job at once, as a bad request, and pauses nobody.
    @Test func aRequestTooLargeForTheRateLimitFailsItsJobAtOnce() async throws {
        let body = #"{"error":{"message":"Request too large for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 30000, Requested 41234. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.errorReply(status: "429 Too Many Requests", headers: ["retry-after: 60"], json: body))]
        }) { server in
            let fixture = try Fixture(count: 3)
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(server.requests.count == 3)
            #expect(summary.failed == 3 && summary.exitCode == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'failed' AND error_kind = 'bad_request' AND attempts = 1") == 3)
        }
    }

    /// A 404 about the request itself, a model that does not exist, fails that job alone.
    @Test func aModelThatDoesNotExistFailsItsJobAlone() async throws {
        let body = #"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.errorReply(status: "404 Not Found", json: body))] }) { server in
            let fixture = try Fixture(count: 4)
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(server.requests.count == 4)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'not_found'") == 4)
            #expect(summary.stoppedProviders.isEmpty)
        }
    }

    @Test func permanentErrorsFailAtOnceAndQuotaStopsTheProvider() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 20, extra: ["mock": ["fault": "quota"]])
        let summary = try await fixture.run(server) { $0.concurrency = 1 }
        #expect(summary.failed == 20)
        #expect(summary.exitCode == 1)
        // The first quota error stops the provider: the other jobs are never sent, and say so.
        #expect(server.stats().requests == 1)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'failed' AND error_kind = 'quota' AND attempts = 1") == 1)
        #expect(try fixture.scalar("""
            SELECT count(*) FROM jobs WHERE state = 'failed' AND error_kind = 'provider_stopped' AND attempts = 0
            AND error_message LIKE 'not sent: provider openai is stopped for this run: %insufficient_quota%'
            """) == 19)
        #expect(summary.stoppedProviders.count == 1 && summary.stoppedProviders.first?.provider == "openai"
                && summary.stoppedProviders.first?.jobsNotSent == 19 && summary.stoppedProviders.first?.reason.contains("insufficient_quota") == true,
                "\(summary.stoppedProviders)")
        try fixture.expectCountsMatchJobs()
        // `choreo resume` requeues the 19 never sent, not the one the provider refused (that takes --all).
        let queue = try JobQueue(path: fixture.databasePath, runnerID: "resume")
        #expect(try await queue.resume(batch: fixture.batchID, all: false, retryableKinds: FailureKind.resumable) == 19)
    }
    }

    /// A model the key may not use (OpenAI's 403 `Project … does not have access to model o3`)
    /// stops that model's jobs, not the provider's others: they were failed as `provider_stopped`.
    @Test func aModelTheKeyMayNotUseStopsThatModelAlone() async throws {
        let refusal = #"{"error":{"message":"Project `proj_x` does not have access to model `o3`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
        try await withScriptedServer(answering: { request in
            request.bodyText.contains(#""model":"o3""#)
                ? [.send(ScriptedServer.errorReply(status: "403 Forbidden", json: refusal))]
                : [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream("fine"))]
        }) { server in
            let fixture = try Fixture(count: 8, models: ["o3", "gpt-4o-mini"])
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(summary.succeeded == 4 && summary.failed == 4, "\(summary)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = 'gpt-4o-mini' AND state = 'succeeded'") == 4)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = 'o3' AND error_kind = 'permission' AND attempts = 1") == 1)
            #expect(try fixture.scalar("""
                SELECT count(*) FROM jobs WHERE model = 'o3' AND error_kind = 'provider_stopped' AND attempts = 0
                AND error_message LIKE 'not sent: model o3 of provider openai is stopped for this run: %does not have access to model%'
                """) == 3)
            #expect(summary.stoppedProviders.map(\.subject) == ["model o3 of provider openai"] && summary.stoppedProviders.first?.jobsNotSent == 3,
                    "\(summary.stoppedProviders)")
            #expect(server.requests.filter { $0.bodyText.contains(#""model":"o3""#) }.count == 1)
        }
    }

    /// Gemini's quota per day is one model's (`…PerDayPerProjectPerModel…`, its `quotaDimensions`
    /// name the model): spent for gemini-2.5-pro, it stops that model; gemini-2.5-flash goes on.
    @Test func aGeminiQuotaPerDayStopsItsModelAlone() async throws {
        let spent = #"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"}}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}"#
        let answer = #"data: {"candidates":[{"content":{"parts":[{"text":"fine"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"modelVersion":"gemini-2.5-flash"}"# + "\r\n\r\n"
        try await withScriptedServer(answering: { request in
            request.requestLine.contains("gemini-2.5-pro")
                ? [.send(ScriptedServer.errorReply(status: "429 Too Many Requests", json: spent))]
                : [.send(ScriptedServer.eventStreamHead() + answer)]
        }) { server in
            let fixture = try Fixture(count: 8, models: ["gemini-2.5-pro", "gemini-2.5-flash"])
            let summary = try await fixture.run(at: server.baseURL) { $0.concurrency = 1 }
            #expect(summary.succeeded == 4 && summary.failed == 4, "\(summary)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = 'gemini-2.5-flash' AND state = 'succeeded'") == 4)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = 'gemini-2.5-pro' AND error_kind = 'quota' AND attempts = 1") == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = 'gemini-2.5-pro' AND error_kind = 'provider_stopped'") == 3)
            #expect(summary.stoppedProviders.map(\.subject) == ["model gemini-2.5-pro of provider gemini"], "\(summary.stoppedProviders)")
        }
    }

    /// Jobs submitted while a run goes on, for a provider whose key is not set (the run's start
    /// checked only the jobs then pending): none is sent, each fails as `provider_stopped`, the
    /// first too, and `choreo resume` requeues them all once the key is there.
    @Test func jobsOfAProviderWithoutAKeySubmittedMidRunAreAllResumable() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(20))) { server in
            let fixture = try Fixture(count: 30)
            var router = Fixture.router(server)
            let anthropic = try #require(router.providers.firstIndex { $0.kind == .anthropic })
            router.providers[anthropic].baseURL = "https://api.anthropic.invalid"
            #expect(router.providers[anthropic].missingKeyVariable != nil)
            let events = RunEvents()
            let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.batch = nil; $0.concurrency = 2 },
                                     router: router, events: events)
            let run = Task { try await runner.run() }
            try await eventually("the run is under way") { events.snapshot.succeeded >= 1 }
            let file = fixture.directory.appendingPathComponent("late.jsonl")
            try ((0..<4).map { #"{"custom_id":"late-\#($0)","model":"claude-haiku-4-5","messages":[{"role":"user","content":"Hi"}]}"# }
                    .joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            let late = try BatchSubmitter(database: try Database(path: fixture.databasePath)).submit(file: file.path).batchID
            let summary = try await run.value
            #expect(summary.succeeded == 30 && summary.failed == 4, "\(summary)")
            #expect(summary.stoppedProviders.map(\.provider) == [router.providers[anthropic].name]
                    && summary.stoppedProviders.first?.jobsNotSent == 4, "\(summary.stoppedProviders)")
            #expect(try fixture.scalar("""
                SELECT count(*) FROM jobs WHERE batch_id = '\(late)' AND state = 'failed' AND error_kind = 'provider_stopped' AND attempts = 0
                AND error_message LIKE 'not sent: provider % is stopped for this run: ANTHROPIC_API_KEY is not set: %'
                """) == 4)
            let queue = try JobQueue(path: fixture.databasePath, runnerID: "resume")
            #expect(try await queue.resume(batch: late, all: false, retryableKinds: FailureKind.resumable) == 4)
        }
    }

    @Test func twoRunnersOnOneDatabaseNeverRunTheSameJob() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(2))) { server in
        let fixture = try Fixture(count: 300)
        async let a = fixture.run(server) { $0.concurrency = 20 }
        async let b = fixture.run(server) { $0.concurrency = 20 }
        let (ra, rb) = try await (a, b)
        #expect(ra.succeeded + rb.succeeded == 300)
        #expect(ra.succeeded > 0 && rb.succeeded > 0)
        try fixture.expectAllExact()
        // Each job succeeded once, and no two attempts of a job ever overlapped (a loaded machine
        // may stall an attempt into a retry, which is fine; running one job twice at once is not).
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 300)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts a JOIN attempts b ON a.job_id = b.job_id AND a.id < b.id WHERE b.started_at < a.ended_at") == 0)
        #expect(try fixture.scalar("SELECT count(DISTINCT runner) FROM attempts") == 2)
        #expect(server.stats().requests == (try fixture.scalar("SELECT count(*) FROM attempts")))
    }
    }

    @Test func cancellingTheBatchStopsTheRunner() async throws {
        // Every stream stalls after two chunks with its connection open: none can finish before the
        // cancel, however late a loaded machine lets the test send it.
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.stall], faultAfterChunks: 2)) { server in
        let fixture = try Fixture(count: 100)
        let run = Task { try await fixture.run(server) { $0.concurrency = 10; $0.stallTimeout = 600 } }
            try await eventually("streams received text") { try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") > 0 }
        let db = try Database(path: fixture.databasePath)
        _ = try db.cancelBatch(fixture.batchID)
        let summary = try await run.value
        #expect(summary.left == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')") == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'cancelled'") > 50)
        // The streams in flight at the cancel were stopped, not finished.
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'cancelled'") > 0)
    }
    }

    /// The progress counts cancelled jobs as done: the pending ones `choreo cancel` ended in the
    /// database (another process) as well as the streams the runner stopped.
    @Test func theProgressCountsCancelledJobsAsDone() async throws {
        try await withMockServer { server in
        // Every stream stalls, open, after two chunks: none ends before the cancel, however loaded the machine.
        let fixture = try Fixture(count: 100, extra: ["mock": ["fault": "stall", "after": 2]])
        let events = RunEvents()
        let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.concurrency = 10; $0.stallTimeout = 600 },
                                 router: Fixture.router(server), events: events)
        let run = Task { try await runner.run() }
            try await eventually("streams received text") { try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") > 0 }
        _ = try Database(path: fixture.databasePath).cancelBatch(fixture.batchID)
        _ = try await run.value
        let s = events.snapshot
        #expect(s.total == 100)
        #expect(s.done == 100, "\(s.succeeded) succeeded, \(s.failed) failed, \(s.cancelled) cancelled")
        #expect(s.cancelled == (try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'cancelled'")))
        #expect(s.cancelled >= 80)
    }
    }

    @Test func deadlineStopsStartingWorkAndLeavesTheRestRetryable() async throws {
        try await withMockServer(config: MockConfig(chunkDelay: .milliseconds(30))) { server in
        let fixture = try Fixture(count: 60)
        // 60 jobs of ~1 s at concurrency 5 need ~12 s: a run that kept starting work would start
        // attempts after the deadline. (A bound on the run's wall time failed on a loaded machine.)
        let deadline = Date().addingTimeInterval(4)
        let summary = try await fixture.run(server) { $0.concurrency = 5; $0.deadline = deadline }
        #expect(try fixture.scalar("SELECT count(*) FROM attempts") > 0)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE started_at > \(deadline.timeIntervalSince1970)") == 0)
        #expect(summary.ending == .deadline)
        #expect(summary.exitCode == 3)
        #expect(summary.left > 0)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
        // A later run finishes the batch exactly.
        let rest = try await fixture.run(server)
        #expect(rest.exitCode == 0)
        try fixture.expectAllExact()
    }
    }

    @Test func cancellingTheRunTaskLeavesJobsPendingWithPartialOutput() async throws {
        try await withMockServer { server in
        // Every stream stalls, open, after two chunks: none ends before the cancel, however loaded the machine.
        let fixture = try Fixture(count: 30, extra: ["mock": ["fault": "stall", "after": 2]])
        let run = Task { try await fixture.run(server) { $0.concurrency = 10; $0.stallTimeout = 600 } }
        // Cancel once partial output is on disk (however loaded the machine is).
        for _ in 0..<500 where try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") == 0 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        run.cancel()
        let summary = try await run.value
        #expect(summary.ending == .interrupted)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
        #expect(try fixture.scalar("SELECT count(*) FROM partials WHERE state = 'pending' AND partial_output <> ''") > 0)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") > 0)
    }
    }
}

@Suite("choreo run as a process: signals and SIGKILL")
struct RunnerProcessTests {
    /// SIGHUP too: a terminal that went away (an SSH session dropped) killed the run on the spot.
    @Test func sigintStopsGracefullyWithExit130SigtermWith143AndSighupWith129() async throws {
        // Every stream stalls after two chunks with its connection open: the run cannot end before
        // the signal, however late a loaded machine lets the test send it.
        let server = try await MockServer.start(config: MockConfig(faultRate: 1, faultKinds: [.stall], faultAfterChunks: 2))
        defer { Task { try? await server.shutdown() } }
        for (sig, code) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143)), (SIGHUP, Int32(129))] {
            let fixture = try Fixture(count: 40)
            let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--stall-timeout", "600", "--concurrency", "8"] + fixture.configuration(pointingAt: server),
                                           directory: fixture.directory)
            for _ in 0..<1500 where try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") == 0 {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            kill(p.processIdentifier, sig)
            let status = try await ChoreoBinary.wait(p, timeout: 20)
            #expect(status == code, "signal \(sig)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 0)
            #expect(try fixture.scalar("SELECT count(*) FROM partials WHERE state = 'pending' AND partial_output <> ''") > 0)
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 0)
            #expect(try fixture.integrityCheck() == "ok")
        }
    }

    /// `choreo cancel` from another process: the run's last progress line counts the cancelled
    /// jobs as done (it said `0/40 done` before).
    @Test func theLastProgressLineCountsCancelledJobs() async throws {
        // Every stream stalls, open, after two chunks: none ends before the cancel, however loaded the machine.
        let fixture = try Fixture(count: 40, extra: ["mock": ["fault": "stall", "after": 2]])
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--mock", "--stall-timeout", "600", "--concurrency", "8"],
                                       directory: fixture.directory)
        try await eventually("streams received text") { try fixture.scalar("SELECT count(*) FROM partials WHERE partial_output <> ''") > 0 }
        #expect(try await ChoreoBinary.run(["cancel", fixture.batchID, "--db", fixture.databasePath]).status == 0)
        _ = try await ChoreoBinary.wait(p, timeout: 30)
        let cancelled = try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'cancelled'")
        let done = 40 - (try fixture.scalar("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"))
        let lines = try ChoreoBinary.log(in: fixture.directory).split(separator: "\n")
        let last = try #require(lines.last { $0.contains(" done · ") })
        #expect(done == 40 && last.contains("40/40 done") && last.contains("· \(cancelled) cancelled"), "\(last)")
    }

    @Test func killedRunnerIsTakenBackAfterItsLeaseAndEveryJobEndsExact() async throws {
        let fixture = try Fixture(count: 200)
        // About a third of the streams stall after two chunks with their connection open: the run
        // cannot end before the kill, however late a loaded machine lets the test send it.
        let stalling = try await MockServer.start(config: MockConfig(faultRate: 0.3, faultKinds: [.stall], seed: 3, faultAfterChunks: 2))
        defer { Task { try? await stalling.shutdown() } }
        let p = try ChoreoBinary.start(["run", "--db", fixture.databasePath, "--stall-timeout", "600",
                                        "--concurrency", "32", "--lease-seconds", "2"] + fixture.configuration(pointingAt: stalling),
                                       directory: fixture.directory)
        // Kill it once some jobs are done and others are mid-stream.
        for _ in 0..<1500 {
            if try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") >= 20,
               try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") > 0 { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        kill(p.processIdentifier, SIGKILL)
        _ = try await ChoreoBinary.wait(p)
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'running'") > 0)
        try await withMockServer { server in
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 0)
        try fixture.expectAllExact()
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'runner_lost'") > 0)
        #expect(try fixture.integrityCheck() == "ok")
    }
    }
}

@Suite("choreo run refuses to start without keys")
struct RunPreflightTests {
    @Test func aMissingKeyStopsTheRunBeforeAnyJobIsTouched() async throws {
        let fixture = try Fixture(count: 3, models: ["gpt-4o-mini", "claude-sonnet-4-5"])
        let router = ProviderRouter.fromEnvironment([:])  // the real endpoints, no keys
        await #expect(throws: RunError.self) {
            _ = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options(), router: router).run()
        }
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempts = 0") == 3)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts") == 0)
    }
}

@Suite("choreo run: usage errors exit 2 and touch nothing")
struct RunUsageTests {
    @Test func aMissingDatabaseIsNotCreatedAndExits2() async throws {
        let scratch = TemporaryDirectory("choreo-usage")
        let dir = scratch.url
        let missing = dir.appendingPathComponent("typo.sqlite").path
        let p = try ChoreoBinary.start(["run", "--db", missing, "--mock"], directory: dir)
        #expect(try await ChoreoBinary.wait(p) == 2)
        #expect(!FileManager.default.fileExists(atPath: missing))
        let bad = try ChoreoBinary.start(["run", "--db", missing, "--concurrency", "0"], directory: dir)
        #expect(try await ChoreoBinary.wait(bad) == 2)
    }
}

extension Fixture {
    /// `--config` with a configuration that sends every model to `server`: a `choreo` process on a
    /// provider the test controls (streams that stall until the test acts).
    func configuration(pointingAt server: MockServer) throws -> [String] {
        let path = directory.appendingPathComponent("choreo.json").path
        let json = #"{"providers": [{"name": "mock", "kind": "openai", "base_url": "\#(server.baseURL)/v1", "models": ["*"]}]}"#
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return ["--config", path]
    }
}
