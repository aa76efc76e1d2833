import ChoreoAI
import Foundation

/// Embeddings jobs of one model and parameters sent as one request, not streamed
/// (`EmbeddingsBatcher` forms them): their inputs in one `input` array, in job order, and the
/// answer's vectors handed back to each job by position.
///
/// Each job keeps its own attempt, budget reservation and result. The request passes the model's
/// cap and the provider's gate once. A request that fails is judged once, as a chat job's
/// (`JobExecution.judge`: an outage begins or goes on, a 429 pauses the provider, a quota or a bad
/// key stops it), then each job's attempt ends as a chat job's would (`JobExecution.conclude`:
/// retried after its backoff, or failed); the run stopping ends them as interrupted, and so does
/// a start confirmed too late to send (`RunContext.startAttempts`), without sending anything.
///
/// A request of several jobs that the provider refuses as a whole (HTTP 400, 413, 422: one input
/// too long, a limit passed) fails none of them: their attempts end as `split`, not counted, and
/// the jobs go back to the queue to be sent in requests of half as many jobs
/// (`RunControl.halveSharedRequests`), down to one, whose refusal fails that job alone.
///
/// The provider bills the request's tokens once (`usage.prompt_tokens`); each job is charged a
/// share in proportion to its inputs' UTF-8 bytes (the shares add up to the bill).
struct EmbeddingsRequest: Sendable {
    /// One execution per job, in the order their inputs are sent; all share one run.
    let members: [JobExecution]

    private var now: Double { Date().timeIntervalSince1970 }
    private var run: RunContext { members[0].shared }

    /// A job of the request on its way: what its attempt needs.
    private struct Member {
        var position: Int
        var execution: JobExecution
        var plan: JobExecution.Plan
        var inputs: [String]
        var bytes: Int
        var bounds: RequestBounds
        var reservation: BudgetLedger.Reservation?
        var attempt = 0
        var job: ClaimedJob { execution.job }
    }

    /// Sends the request and writes every job's outcome; one result per member, in order.
    func send() async -> [(result: JobResult, batch: String)] {
        var results = [JobResult?](repeating: nil, count: members.count)
        do {
            try await send(into: &results)
        } catch {
            // Only database errors reach here: the jobs not written are left to their leases.
            for i in results.indices where results[i] == nil { results[i] = members[i].databaseFailure(error) }
        }
        return members.indices.map { (results[$0] ?? .interrupted, members[$0].job.batchID) }
    }

    private func send(into results: inout [JobResult?]) async throws {
        let claimed = now
        var ready: [Member] = []
        for (i, m) in members.enumerated() {
            switch m.decide() {
            case .unsent(let unsent): results[i] = try await m.endUnsent(unsent)
            case .send(let plan):
                guard let inputs = OpenAIEmbeddingsWire.inputs(of: plan.body), !inputs.isEmpty else {
                    results[i] = try await m.failWithoutAttempt(RequestFailure(
                        kind: .badRequest, retryable: false, stopsProvider: false,
                        message: "the stored embeddings request has no input (a string or an array of strings)"))
                    continue
                }
                let bounds = RequestBounds(embeddingsRequestBytes: m.job.request.utf8.count)
                switch try await m.reserve(bounds) {
                case .refused(let result): results[i] = result
                case .granted(let reservation):
                    ready.append(Member(position: i, execution: m, plan: plan, inputs: inputs, bytes: inputs.reduce(0) { $0 + $1.utf8.count },
                                        bounds: bounds, reservation: reservation))
                }
            }
        }
        guard let first = ready.first else { return }
        // Every member has the same model, parameters and timeout (`EmbeddingsBatcher`): one provider.
        let provider = first.plan.provider
        let gate = run.gates.gate(for: provider)
        let modelCap = run.gates.modelCap(for: provider, model: first.job.model)
        // About 4 bytes a token, as for a chat prompt; no output.
        let estimate = max(1, ready.reduce(0) { $0 + $1.bytes } / 4)
        var gaveBack: JobResult?
        var probe: Int?
        if !gate.admitNow(estimatedTokens: estimate, modelCap: modelCap) {
            // The request waits here, in its own task (a chat job waits in one the run loop
            // counts): the progress shows it waiting, not in flight.
            run.events.requestWaiting(true)
            defer { run.events.requestWaiting(false) }
            do {
                probe = try await gate.admit(estimatedTokens: estimate, modelCap: modelCap)
            } catch {
                gaveBack = error is ProviderUnreachable ? .heldBack(model: first.job.model) : .interrupted
            }
        }
        if let gaveBack {
            // The run is stopping, or gave up on the provider: every job goes back untouched.
            for m in ready {
                m.execution.settle(m.reservation, .none)
                try await run.queue.release(job: m.job.id)
                results[m.position] = gaveBack
            }
            return
        }
        defer {
            modelCap?.release()
            gate.finished(probe: probe)
        }

        // One attempt per job, begun together (the store commits them in one group).
        let admitted = now
        let (started, late) = await run.startAttempts(ready.map { AttemptStart(job: $0.job.id) })
        let numbers: [Int?] = try started.map { started in
            do { return try started.get() } catch is LeaseLost { return nil }
        }
        var sent: [Member] = []
        for (k, var m) in ready.enumerated() {
            guard let n = numbers[k] else {
                m.execution.settle(m.reservation, .none)
                run.events.log(.warning, "job \(m.job.customID): lease lost to another runner; not sent")
                results[m.position] = .interrupted
                continue
            }
            m.attempt = n
            sent.append(m)
        }
        guard let head = sent.first else { return }
        if let late {
            // Confirmed too late to send (`RunContext.startAttempts`): every attempt is given back unsent.
            try await failed(sent, error: late, gate: gate, probe: probe, sentAt: now, clock: (claimed, admitted), into: &results)
            return
        }

        var body = head.plan.body
        body["input"] = .array(sent.flatMap(\.inputs).map { .string($0) })
        let inputCount = sent.reduce(0) { $0 + $1.inputs.count }
        let sentAt = now
        let response: EmbeddingsResponse
        do {
            response = try await run.client.embed(body: body, provider: provider)
            guard response.embeddings.count == inputCount else {
                throw WireError.malformed("\(inputCount) inputs were sent and \(response.embeddings.count) embeddings came back")
            }
        } catch {
            try await failed(sent, error: error, gate: gate, probe: probe, sentAt: sentAt, clock: (claimed, admitted), into: &results)
            return
        }
        gate.observe(RateLimitInfo(headers: response.head.headers), estimatedTokens: estimate)
        gate.answered(sentAt: sentAt)
        if let tokens = response.embeddings.promptTokens { gate.settle(estimatedTokens: estimate, actualTokens: tokens) }
        try await succeeded(sent, response: response, sentAt: sentAt, claimed: claimed, into: &results)
    }

    /// Writes each job's vectors and its share of the usage, all together.
    private func succeeded(_ sent: [Member], response: EmbeddingsResponse, sentAt: Double, claimed: Double,
                           into results: inout [JobResult?]) async throws {
        let end = now
        let e = response.embeddings
        let shares = e.promptTokens.map { Self.shares(of: $0, weights: sent.map { max(1, $0.bytes) }) }
        let inputCount = sent.reduce(0) { $0 + $1.inputs.count }
        var outcomes: [(Member, JobOutcome)] = []
        var offset = 0
        for (k, m) in sent.enumerated() {
            let vectors = e.vectors(offset..<(offset + m.inputs.count))
            offset += m.inputs.count
            let tokens = shares?[k]
            let usage = tokens.map { CompletionUsage(promptTokens: $0, completionTokens: 0) }
            let prices = run.options.prices
            // Billed by the provider: its figure (shared out); none reported: the worst case, marked as an estimate.
            let charge = usage.map { AttemptCharge(usage: $0, estimated: false, costUSD: $0.promptTokens == 0 ? 0 : prices.price(for: m.job.model)?.cost($0)) }
                ?? AttemptCharge.of(reported: nil, isFinal: false, bounds: m.bounds, model: m.job.model, receivedBytes: 0, prices: prices)
            var o = JobOutcome(
                output: nil, toolCalls: nil, finishReason: nil, providerFinishReason: nil,
                response: Self.responseBody(model: e.model, promptTokens: tokens), promptTokens: tokens, completionTokens: tokens.map { _ in 0 },
                firstTokenMs: nil, durationMs: Int((end - sentAt) * 1000), httpStatus: response.head.status,
                requestID: response.head.headers.requestID, bytesReceived: response.bytesReceived * m.inputs.count / max(1, inputCount),
                charsReceived: 0,
                timings: AttemptTimings(claimed: claimed, sent: sentAt, headers: end, end: end, stream: nil, outputTokens: nil))
            o.charge = charge
            o.embedding = vectors
            o.endedAt = end
            // Keyed as every answer is: a cached run reuses the vectors (embeddings never sample).
            o.requestKey = run.options.requestKey(model: m.job.model, request: m.job.request, path: m.job.endpoint, client: run.client)
            outcomes.append((m, o))
        }
        let written = try await run.queue.complete(outcomes.map { m, o in JobSuccess(job: m.job.id, attempt: m.attempt, outcome: o) })
            .map { try $0.get() }
        for (k, (m, o)) in outcomes.enumerated() {
            m.execution.settle(m.reservation, o.charge ?? .none)
            guard written[k] else {
                run.events.log(.warning, "job \(m.job.customID): lease lost to another runner; its result was not written")
                results[m.position] = .interrupted
                continue
            }
            run.events.succeeded(job: m.job.customID, completionTokens: 0)
            results[m.position] = .succeeded(seconds: end - sentAt)
        }
    }

    /// Ends every job's attempt of a failed request (see the type's comment).
    private func failed(_ sent: [Member], error: any Error, gate: ProviderGate, probe: Int?, sentAt: Double,
                        clock: (claimed: Double, admitted: Double), into results: inout [JobResult?]) async throws {
        var failure = RequestFailure.classify(error)
        // A 2xx that broke off or could not be read: the provider did the work, and bills it.
        let answered = error is StreamError || error is WireError
        let timings = AttemptTimings(claimed: clock.claimed, sent: sentAt, headers: answered ? now : nil, end: now, stream: nil, outputTokens: nil)
        let endedAt = now
        func record(_ m: Member) -> AttemptFailure {
            AttemptFailure(kind: failure.kind, message: failure.message, httpStatus: failure.httpStatus,
                           requestID: (error as? APIError)?.requestID, bytesReceived: 0, charsReceived: 0, keptPartial: nil,
                           keptPartialTokens: 0, spentPromptTokens: 0, receivedText: nil, timings: timings,
                           charge: answered ? AttemptCharge.of(reported: nil, isFinal: false, bounds: m.bounds, model: m.job.model,
                                                               receivedBytes: 0, prices: run.options.prices) : AttemptCharge.none,
                           errorBody: (error as? APIError)?.body?.jsonString, endedAt: endedAt)
        }
        for m in sent { m.execution.settle(m.reservation, record(m).charge ?? .none) }
        if error is CancellationError || error is StartConfirmedLate || Task.isCancelled {
            let records = sent.map(record)
            let stop: any Error = error is StartConfirmedLate ? error : CancellationError()
            try await forEach(sent, into: &results) { k, m in
                try await m.execution.stopped(attempt: m.attempt, error: stop, record: records[k]) ?? .interrupted
            }
            return
        }
        if sent.count > 1, failure.kind == .badRequest {
            // Refused as a whole: no job is at fault yet. Smaller requests find the one that is.
            _ = members[0].judge(failure, gate: gate, probe: probe, sentAt: sentAt, reached: true)
            run.control.halveSharedRequests(of: sent.map(\.job.id))
            let limit = max(1, sent.count / 2)
            run.events.log(.warning, "an embeddings request of \(sent.count) jobs (\(sent[0].job.model)) was refused (\(failure.message)); "
                + "its jobs go again in requests of at most \(limit)")
            failure.message = "the request carried \(sent.count) jobs and was refused as a whole; sent again in requests of at most \(limit) jobs: "
                + failure.message
            let clock = now, records = sent.map(record)
            try await forEach(sent, into: &results) { k, m in
                try await m.execution.shared.queue.endAttempt(job: m.job.id, attempt: m.attempt, failure: records[k], outcome: .split,
                                                              retryAt: clock, countsAsAttempt: false)
                return .retrying
            }
            return
        }
        let counts = members[0].judge(failure, gate: gate, probe: probe, sentAt: sentAt, reached: failure.httpStatus != nil || answered)
        // One backoff for the request: its jobs come back together and share a request again.
        let clock = now, jitter = Double.random(in: 0..<1), records = sent.map(record), judged = failure
        try await forEach(sent, into: &results) { k, m in
            try await m.execution.conclude(attempt: m.attempt, error: error, failure: judged, record: records[k], counts: counts,
                                           continued: false, clock: clock, jitter: jitter)
        }
    }

    /// `write` for every member at once, so the store commits their writes in one group (a
    /// request of 512 jobs is not 512 commits one after another), each result in its place.
    private func forEach(_ sent: [Member], into results: inout [JobResult?],
                         _ write: @escaping @Sendable (Int, Member) async throws -> JobResult) async throws {
        let written = try await withThrowingTaskGroup(of: (Int, JobResult).self) { group in
            for (k, m) in sent.enumerated() { group.addTask { (k, try await write(k, m)) } }
            var written: [(Int, JobResult)] = []
            for try await r in group { written.append(r) }
            return written
        }
        for (k, result) in written { results[sent[k].position] = result }
    }

    /// `total` shared out in proportion to `weights`, in whole numbers that add up to it (the
    /// largest remainders get the odd units; ties go to the earlier share).
    static func shares(of total: Int, weights: [Int]) -> [Int] {
        let sum = weights.reduce(0, +)
        guard sum > 0, total > 0 else { return weights.map { _ in 0 } }
        var shares = weights.map { total * $0 / sum }
        let remainders = weights.enumerated().map { (index: $0.offset, rest: total * $0.element % sum) }
        let left = total - shares.reduce(0, +)
        for r in remainders.sorted(by: { $0.rest != $1.rest ? $0.rest > $1.rest : $0.index < $1.index }).prefix(left) { shares[r.index] += 1 }
        return shares
    }

    /// What `jobs.response` keeps of an embeddings answer: the OpenAI body without its vectors
    /// (those are `jobs.embedding`, 4 bytes a value, not text), with the job's share of the usage
    /// (none when the provider reported none). The `openai` export puts the vectors back in.
    static func responseBody(model: String, promptTokens: Int?) -> String {
        var o: [String: JSONValue] = ["object": "list", "model": .string(model)]
        if let p = promptTokens { o["usage"] = ["prompt_tokens": .int(Int64(p)), "total_tokens": .int(Int64(p))] }
        return JSONValue.object(o).jsonString
    }
}
