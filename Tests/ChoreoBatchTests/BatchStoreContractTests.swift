import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoAI
import ChoreoSQLite
import ChoreoTesting

/// The `BatchStore` contract (what `status`, `results`, `show`, `sql`, `cancel` and `resume` need
/// from storage), every case on both backends: the jobs are submitted and run through `JobStore`,
/// then read and changed only through `BatchStore`, and the values must be the same.
@Suite("The BatchStore contract")
struct BatchStoreContractTests {
    /// A batch of four jobs: `ok` succeeded, `bad` failed (server_error), `cut` failed
    /// (invalid_request), `later` still pending.
    private func ranPlace(_ backend: StoreBackend) async throws -> StorePlace {
        let place = try backend.place(jobs: 0, lines: [batchLine("ok"), batchLine("bad"), batchLine("cut"), batchLine("later")])
        let runner = try place.runner("r1")
        let jobs = try await runner.claim(limit: 3, leaseSeconds: 600, batch: nil)
        for job in jobs { _ = try await runner.startAttempt(job: job.id, continuedFromChars: nil) }
        func failure(_ kind: String) -> AttemptFailure {
            AttemptFailure(kind: FailureKind(rawValue: kind), message: "\(kind) happened", httpStatus: 500, requestID: "req-\(kind)",
                           bytesReceived: 10, charsReceived: 0, keptPartial: nil, keptPartialTokens: 0, spentPromptTokens: 4, receivedText: nil)
        }
        let outcome = JobOutcome(output: "The answer.", toolCalls: nil, finishReason: "stop", providerFinishReason: "stop", response: "{}",
                                 promptTokens: 3, completionTokens: 2, firstTokenMs: 1, durationMs: 2, httpStatus: 200, requestID: "req-ok",
                                 bytesReceived: 10, charsReceived: 11)
        #expect(try await runner.complete(job: jobs[0].id, attempt: 1, outcome: outcome))
        try await runner.endAttempt(job: jobs[1].id, attempt: 1, failure: failure("server_error"), outcome: .failed, retryAt: nil)
        try await runner.endAttempt(job: jobs[2].id, attempt: 1, failure: failure("invalid_request"), outcome: .failed, retryAt: nil)
        return place
    }

    /// `choreo estimate BATCH`: the jobs left with their bodies, and the calibration from the
    /// finished single-attempt jobs, the same on both (the request's bytes: its compact JSON).
    @Test(arguments: StoreBackend.tested)
    func estimateReadsTheJobsLeftAndTheCalibration(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        let left = try store.jobsLeft(batch: place.batch)
        #expect(left.count == 1)
        #expect(left.first?.model == "gpt-4o-mini" && left.first?.body["messages"]?.arrayValue?.first?["content"] == "Hello")
        #expect(left.first?.endpoint == .chatCompletions)
        let calibration = try store.estimateCalibration()
        let model = try #require(calibration.keys.first)
        #expect(calibration.count == 1 && calibration[model]?.jobs == 1 && calibration[model]?.meanCompletionTokens == 2)
        let request = try place.read("SELECT r.request FROM jobs j JOIN job_requests r ON r.job_id = j.id WHERE j.custom_id = 'ok'", [])
        let bytes = try #require(request).utf8.count
        #expect(abs((calibration[model]?.promptTokensPerByte ?? 0) - 3 / Double(bytes)) < 1e-12)
        #expect(throws: LookupError.self) { try store.jobsLeft(batch: "batch_nope") }
    }

    /// `status --json` names the batch's endpoint as OpenAI's batch object does: the one its jobs
    /// ask for (it said /v1/chat/completions for every batch), null with the list when they mix.
    @Test(arguments: StoreBackend.tested)
    func statusNamesTheEndpointTheBatchsJobsAskFor(_ backend: StoreBackend) async throws {
        let embeddings = #"{"custom_id":"e1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"hi"}}"#
        let alone = try backend.place(jobs: 0, lines: [embeddings])
        let one = try alone.location.openBatchStore().status(batch: alone.batch).json
        #expect(one["endpoint"] == "/v1/embeddings" && one["endpoints"] == ["/v1/embeddings"])
        let mixed = try backend.place(jobs: 0, lines: [embeddings, batchLine("c1")])
        let both = try mixed.location.openBatchStore().status(batch: mixed.batch).json
        #expect(both["endpoint"] == .null && both["endpoints"] == ["/v1/chat/completions", "/v1/embeddings"])
        let chat = try backend.place(jobs: 2)
        #expect(try chat.location.openBatchStore().status(batch: chat.batch).json["endpoint"] == "/v1/chat/completions")
    }

    @Test(arguments: StoreBackend.tested)
    func statusCountsJobsByStateTokensAndFailuresByKind(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        let status = try store.status(batch: place.batch, now: 2_000_000_000)
        #expect(status.id == place.batch && status.totalJobs == 4)
        #expect(status.jobs == ["pending": 1, "running": 0, "succeeded": 1, "failed": 2, "cancelled": 0])
        #expect(status.promptTokens == 3 && status.completionTokens == 2)
        #expect(status.failures.map(\.kind) == ["invalid_request", "server_error"] && status.failures.map(\.count) == [1, 1])
        #expect(status.observedAt == 2_000_000_000)
        #expect(try store.statuses().map(\.id) == [place.batch])
        #expect(try store.batchID(matching: place.batch) == place.batch)
        #expect(throws: LookupError.self) { try store.status(batch: "batch_nope") }
    }

    @Test(arguments: StoreBackend.tested)
    func exportRecordsStreamEveryJobInInputOrderOrOnlyTheStatesAsked(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        var all: [ExportRecord] = []
        #expect(try store.exportRecords(batch: place.batch, states: [], includingResponse: true) { all.append($0) } == 4)
        #expect(all.map(\.customID) == ["ok", "bad", "cut", "later"])
        #expect(all.map(\.state) == ["succeeded", "failed", "failed", "pending"])
        #expect(all[0].output == "The answer." && all[0].response == "{}" && all[0].requestID == "req-ok")
        #expect(all[1].errorKind == "server_error" && all[1].httpStatus == 500 && all[1].errorMessage == "server_error happened")
        var failed: [String] = []
        try store.exportRecords(batch: place.batch, states: ["failed", "pending"], includingResponse: false) { failed.append($0.customID) }
        #expect(failed == ["bad", "cut", "later"])
        var withoutResponse: ExportRecord?
        try store.exportRecords(batch: place.batch, states: ["succeeded"], includingResponse: false) { withoutResponse = $0 }
        #expect(withoutResponse?.output == "The answer." && withoutResponse?.response == nil)
        #expect(try store.exportRecords(batch: "batch_nope", states: [], includingResponse: false) { _ in } == 0)
    }

    @Test(arguments: StoreBackend.tested)
    func jobDetailFindsAJobByCustomIDOrNumericIDWithItsAttempts(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        let bad = try store.jobDetail(job: "bad", batch: nil)
        #expect(bad.batchID == place.batch && bad.record.state == "failed" && bad.record.customID == "bad")
        #expect(bad.attempts.map(\.number) == [1] && bad.attempts.first?.errorKind == "server_error" && bad.attempts.first?.runner == "r1")
        #expect(bad.request.contains("\"Hello\""))
        #expect(try store.jobDetail(job: String(bad.record.id), batch: nil).record.customID == "bad")
        #expect(try store.jobDetail(job: "bad", batch: place.batch).record.id == bad.record.id)
        #expect(throws: LookupError.self) { try store.jobDetail(job: "nope", batch: nil) }
    }

    @Test(arguments: StoreBackend.tested)
    func cancelReopenAndRequeueChangeTheSameJobs(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore(forWriting: true)
        let cancel = try store.cancelBatch(place.batch)
        #expect(cancel.cancelledJobs == 1 && cancel.runningJobs == 0 && cancel.previousState == "running")
        #expect(try store.status(batch: place.batch).state == "cancelled")
        #expect(try store.status(batch: place.batch).jobs["cancelled"] == 1)
        #expect(try store.reopenBatch(place.batch) == 1)
        #expect(try store.status(batch: place.batch).state == "pending")
        #expect(try store.requeue(batch: place.batch, all: false, retryableKinds: ["server_error"]) == 1)
        #expect(try store.status(batch: place.batch).jobs == ["pending": 2, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 0])
        #expect(try store.requeue(batch: place.batch, all: true, retryableKinds: []) == 1)
        #expect(try place.count("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempt_base = attempts") == 3)
        #expect(throws: LookupError.self) { try store.cancelBatch("batch_nope") }
    }

    @Test(arguments: StoreBackend.tested)
    func aReportListsTheSlowestAndFailedJobsWithTheirDetail(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        let report = try store.report(batch: place.batch, bins: 10) { _ in "openai" }
        #expect(report.status.id == place.batch && report.failedTotal == 2)
        #expect(report.slowest.map(\.customID) == ["ok"] && report.failed.map(\.customID) == ["bad", "cut"])
        #expect(report.models.map(\.model) == ["gpt-4o-mini"] && report.models.first?.succeeded == 1 && report.models.first?.failed == 2)
        #expect(report.completions.reduce(0, +) == 1 && report.failuresByKind.map(\.kind).sorted() == ["invalid_request", "server_error"])
        #expect(report.details.count == 3 && report.details.allSatisfy { $0.text.contains("(batch \(place.batch)") })
    }

    @Test(arguments: StoreBackend.tested)
    func aReadOnlyQueryGivesValuesTypedAsSQLiteHoldsThem(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        var rows: [[SQLValue]] = []
        var names: [String] = []
        try store.query(readOnly: """
            SELECT count(*) AS n, sum(prompt_tokens) AS tokens, 1.5 AS half, 'x' AS text, NULL AS none_yet FROM jobs WHERE state = 'succeeded'
            """, timeLimit: 5) { columns, values in
            names = columns
            rows.append(values)
        }
        #expect(names == ["n", "tokens", "half", "text", "none_yet"])
        #expect(rows == [[.integer(1), .integer(3), .real(1.5), .text("x"), .null]])
    }

    @Test(arguments: StoreBackend.tested)
    func aReadOnlyQueryRefusesEveryWriteAndChangesNothing(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        for sql in ["UPDATE jobs SET state = 'failed'", "DELETE FROM jobs", "INSERT INTO prefill_refusals VALUES ('m', 'x', 0)",
                    "CREATE TABLE mine (a integer)", "DROP TABLE jobs"] {
            #expect(throws: QueryError.self, "\(sql)") { try store.query(readOnly: sql, timeLimit: 5) { _, _ in } }
        }
        #expect(try place.count("SELECT count(*) FROM jobs WHERE state = 'failed'") == 2)
        #expect(try place.count("SELECT count(*) FROM jobs") == 4)
        // The store stays usable after a refused statement.
        var n: SQLValue?
        try store.query(readOnly: "SELECT count(*) FROM jobs", timeLimit: 5) { _, values in n = values[0] }
        #expect(n == .integer(4))
    }

    @Test(arguments: StoreBackend.tested)
    func aReadOnlyQueryRunningPastItsTimeLimitIsStopped(_ backend: StoreBackend) async throws {
        let place = try await ranPlace(backend)
        let store = try place.location.openBatchStore()
        let endless = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
        do {
            try store.query(readOnly: endless, timeLimit: 0.2) { _, _ in }
            Issue.record("an endless query returned")
        } catch let error as QueryError {
            guard case .timedOut(let seconds) = error else { Issue.record("\(error)"); return }
            #expect(seconds == 0.2)
        }
    }
}
