import ChoreoAI
import Foundation

/// How one claimed job's attempt ended.
enum JobResult: Sendable {
    case succeeded(seconds: Double)
    /// Back in the queue, runnable again after its backoff.
    case retrying
    case failed
    case cancelled
    /// The runner is stopping: the job went back to pending with its partial output.
    case interrupted
    /// The run gave up waiting for the job's provider (an outage past its limit): the job went
    /// back to pending untouched, and jobs of `model` are not claimed again in this run.
    case heldBack(model: String)
    /// The job's worst-case cost does not fit what its budget has left, and no running job can
    /// free any: the job went back to pending untouched, and the run starts nothing new.
    case budgetReached
}

/// One attempt of one job: build the request (a continuation when there is kept text and the
/// provider can continue it), stream it, and write the outcome.
struct JobExecution: Sendable {
    private(set) var job: ClaimedJob
    /// What every job of the run shares, by one reference: an execution is copied into its task
    /// and, while it streams, held by its stream's end.
    let shared: RunContext

    private var now: Double { Date().timeIntervalSince1970 }

    /// What one start task did with its jobs (`start(_:ends:)`, `start(waiting:ends:)`): each job
    /// is in exactly one of the three.
    struct Started: Sendable {
        /// Requests sent: each one's end (its stream's, or its failure before a head) comes
        /// through the run's `StreamEnds`, once.
        var launched = 0
        /// Jobs whose attempt is over, or never began: failed, cancelled, given back.
        var done: [(result: JobResult, batch: String)] = []
        /// Jobs that must wait before they may go (their budget, their model's cap, their
        /// provider's gate): each gets a task of its own, so no job waits behind another.
        var waiting: [Prepared] = []

        /// The jobs that are no longer the task's: sent, or done.
        var left: Int { launched + done.count }
    }

    /// A job whose attempt is decided and not yet admitted: its plan (made once), its request's
    /// token bounds, and when it was claimed.
    struct Prepared: Sendable {
        let execution: JobExecution
        let plan: Plan
        let bounds: RequestBounds
        let claimed: Double
    }

    /// An attempt allowed to go, with what it holds until it ends.
    struct Admitted: Sendable {
        let prepared: Prepared
        let reservation: BudgetLedger.Reservation?
        let modelCap: AsyncSemaphore?
        let gate: ProviderGate
        let probe: Int?

        var execution: JobExecution { prepared.execution }
        var plan: Plan { prepared.plan }

        /// Gives back what the attempt held when it never began (`charge`: nothing was billed).
        func release() {
            execution.release(reservation: reservation, modelCap: modelCap, gate: gate, probe: probe, charge: .none)
        }
    }

    /// Starts the claimed jobs `executions`, in one task: decides each one's attempt; the jobs
    /// that may go now begin their attempts in one call of the store and send their requests,
    /// whose heads and ends come back through `ends` (no task waits for them); the jobs that must
    /// wait first are handed back (`Started.waiting`).
    static func start(_ executions: [JobExecution], ends: StreamEnds) async -> Started {
        var admitted: [Admitted] = []
        var waiting: [Prepared] = []
        var unsent: [(JobExecution, Unsent)] = []
        for execution in executions {
            let claimed = Date().timeIntervalSince1970
            let plan: Plan
            switch execution.decide() {
            case .send(let p): plan = p
            case .unsent(let u):
                unsent.append((execution, u))
                continue
            }
            let prepared = Prepared(execution: execution, plan: plan, bounds: execution.bounds(of: plan), claimed: claimed)
            if let now = prepared.admitNow() {
                admitted.append(now)
            } else {
                waiting.append(prepared)
            }
        }
        // The requests first: the writes of jobs that will not be sent wait for them, not the reverse.
        var started = await launch(admitted, ends: ends)
        started.waiting = waiting
        for (execution, u) in unsent {
            let result: JobResult
            do { result = try await execution.endUnsent(u) } catch { result = execution.databaseFailure(error) }
            started.done.append((result, execution.job.batchID))
        }
        return started
    }

    /// Starts one job that must wait first (`Started.waiting`): for its budget, its model's cap
    /// and its provider's gate, then as `start(_:ends:)` does.
    static func start(waiting prepared: Prepared, ends: StreamEnds) async -> Started {
        var started = Started()
        let execution = prepared.execution
        do {
            switch try await prepared.admit() {
            case .granted(let admitted):
                started = await launch([admitted], ends: ends)
            case .refused(let result):
                started.done = [(result, execution.job.batchID)]
            }
        } catch {
            started.done = [(execution.databaseFailure(error), execution.job.batchID)]
        }
        return started
    }

    /// This execution as its stream's end needs it: without the job's request text. Nothing after
    /// the request went out reads it (a later attempt claims the job again and reads it from the
    /// store); held by every running stream's end, 10,000 streams of 5 KB prompts kept 50 MB.
    var finishing: JobExecution {
        var e = self
        e.job.request = ""
        return e
    }

    /// Writes the answers of streams that ended well, all in one call of the store: the run
    /// loop's one task waits once for them, not once a job. Each job's result in their order.
    static func finish(succeeded ended: [EndedStream]) async -> [JobResult] {
        guard let queue = ended.first?.execution.shared.queue else { return [] }
        let successes = ended.map { $0.execution.success(of: $0) }
        let written = await queue.complete(successes)
        var results: [JobResult] = []
        results.reserveCapacity(ended.count)
        for k in ended.indices {
            results.append(await ended[k].execution.succeeded(ended[k], successes[k].outcome, written: written[k]))
        }
        return results
    }

    /// Writes how the attempt `e` failed, its stream or its request before a head: the attempt's
    /// end, and what comes next (retry, fail, stop).
    func finish(_ e: EndedStream, failedWith error: any Error) async -> JobResult {
        let sent = e.sent
        let charge = self.charge(of: e.output, bounds: sent.bounds)
        defer { release(sent, charge: charge) }
        do {
            let result = try await ended(attempt: sent.attempt, error: error, live: e.output, kept: sent.kept,
                                         keptTokens: sent.keptTokens, gate: sent.gate, probe: sent.probe, sentAt: sent.started,
                                         clock: (sent.claimed, e.headersAt), charge: charge, endedAt: e.at)
            if let output = e.output { shared.flusher.unregister(output) }
            return result
        } catch {
            // The stream stays with the flusher: when the run stops before this write could commit
            // (a busy database), its last flush keeps the whole text as the job's partial.
            return databaseFailure(error)
        }
    }

    /// What an ended attempt held, given back once its end is written: the budget's reservation
    /// (settled at `charge`), the model's cap, the provider's gate.
    private func release(reservation: BudgetLedger.Reservation?, modelCap: AsyncSemaphore?, gate: ProviderGate, probe: Int?,
                         charge: AttemptCharge) {
        settle(reservation, charge)
        modelCap?.release()
        gate.finished(probe: probe)
    }

    /// `release` of what the streaming attempt `sent` held.
    private func release(_ sent: Sent, charge: AttemptCharge) {
        release(reservation: sent.reservation, modelCap: sent.modelCap, gate: sent.gate, probe: sent.probe, charge: charge)
    }

    /// What the attempt streaming into `live` was billed (nothing when no answer began).
    private func charge(of live: LiveOutput?, bounds: RequestBounds) -> AttemptCharge {
        AttemptCharge.of(stream: live?.stream, bounds: bounds, model: job.model, prices: shared.options.prices)
    }

    /// Replaces a budget reservation by what the attempt cost (an unpriced one by its reservation).
    func settle(_ reservation: BudgetLedger.Reservation?, _ charge: AttemptCharge) {
        guard let reservation, let budget = shared.budget else { return }
        budget.settle(reservation, cost: charge.costUSD ?? reservation.amount)
    }

    /// Only database errors reach here: leave the job to its lease (another run takes it back).
    func databaseFailure(_ error: any Error) -> JobResult {
        shared.events.log(.error, "job \(job.customID): could not record its state: \(error)")
        return .interrupted
    }

    /// What an attempt will send, decided before any waiting.
    struct Plan {
        var provider: Provider
        /// How the request is spoken: the provider's chat format, or its Responses API for a
        /// `/v1/responses` job.
        var wire: any WireFormat
        var body: JSONValue
        /// Text kept from earlier attempts that this one continues ("" for a fresh start).
        var kept: String
        var keptTokens: Int
        var estimate: Int
        /// How a cut job is continued, and why (nil: nothing was kept).
        var continuation: AttemptContinuation?
        /// The job's request key (of its stored request, not of a continuation's body), written
        /// with its answer.
        var requestKey: RequestKey?
    }

    /// What an attempt does: send its plan, or end without a request.
    enum Decision {
        case send(Plan)
        case unsent(Unsent)

        static func fail(_ failure: RequestFailure) -> Decision { .unsent(.fail(failure)) }
        static var cancelled: Decision { .unsent(.cancelled) }
    }

    /// Why an attempt sends nothing: the job fails, or its batch was cancelled.
    enum Unsent {
        case fail(RequestFailure)
        /// Its provider, or its model there, is stopped for the run, for `reason` (`provider_stopped`).
        case providerStopped(StopScope, reason: String)
        case cancelled
    }

    /// Writes an attempt that sends nothing (`Decision.unsent`): the job's end, and its result.
    func endUnsent(_ unsent: Unsent) async throws -> JobResult {
        switch unsent {
        case .fail(let failure): return try await failWithoutAttempt(failure)
        case .providerStopped(let scope, let reason):
            try await shared.queue.endWithoutAttempt(job: job.id, state: .failed, kind: .providerStopped,
                                                     message: "not sent: \(scope) is stopped for this run: \(reason)")
            shared.events.notSent()
            shared.control.countNotSent(scope)
            return .failed
        case .cancelled:
            try await shared.queue.endWithoutAttempt(job: job.id, state: .cancelled, kind: .cancelled, message: "the batch was cancelled")
            return .cancelled
        }
    }

    /// The synchronous part of an attempt: parse, route, check, build the body (a continuation
    /// where the provider can continue kept text).
    func decide() -> Decision {
        let request: JSONValue
        do { request = try JSONValue.parse(job.request) } catch {
            return .fail(RequestFailure(kind: .badRequest, retryable: false, stopsProvider: false,
                                 message: "the stored request is not valid JSON: \(error)"))
        }
        var provider: Provider
        do { provider = try shared.client.provider(for: job.model) } catch {
            return .fail(RequestFailure(kind: .noProvider, retryable: false, stopsProvider: false, message: "\(error)"))
        }
        // The job's own bound on the attempt's whole time wins over its provider's (and the run's).
        if let timeout = job.timeout { provider.timeout = timeout }
        let wire: any WireFormat
        if job.endpoint == .responses {
            // Submit refused such a line; a configuration changed since may route it elsewhere.
            guard let responses = provider.kind.responsesWire else {
                return .fail(RequestFailure(kind: .badRequest, retryable: false, stopsProvider: false,
                                            message: "model \(job.model) routes to \(provider.name), which has no Responses API (/v1/responses)"))
            }
            wire = responses
        } else {
            wire = provider.kind.wireFormat
        }
        if shared.control.isCancelled(batch: job.batchID) { return .cancelled }
        if let variable = provider.missingKeyVariable {
            // A job submitted after the run began (its start checked the others' keys): it and
            // the provider's other jobs are not sent.
            shared.stop(StopScope(provider: provider.name), because: RequestFailure(
                kind: .auth, retryable: false, stopsProvider: true,
                message: "\(variable) is not set: provider \(provider.name) (\(provider.baseURL)) needs a key"))
        }
        if let stopped = shared.control.stop(covering: job.model, of: provider.name) {
            return .unsent(.providerStopped(stopped.scope, reason: stopped.failure.message))
        }
        var plan = Plan(provider: provider, wire: wire, body: request, kept: "", keptTokens: 0, estimate: Self.estimateTokens(request),
                        requestKey: request.objectValue == nil ? nil : shared.options.requestKey(body: request, provider: provider, path: job.endpoint))
        // Continue from kept text where the model can; otherwise start over. Either way the
        // attempt records how, and why.
        let kept = Self.keptPartial(text: job.partialOutput, tokens: job.partialTokens)
        guard !kept.text.isEmpty else { return .send(plan) }
        func restart(_ reason: String) -> Decision {
            plan.continuation = AttemptContinuation(method: "restart", reason: reason)
            return .send(plan)
        }
        // An assistant message in a Responses input is an earlier turn, not a prefix to go on from.
        if job.endpoint == .responses { return restart("the Responses API has no way to continue a partial answer") }
        // The kept text is choice 0's; one prefill would continue it in every choice.
        if let n = request["n"]?.intValue, n > 1 { return restart("n is \(n): a prefill continues one choice, not every one") }
        let support = shared.control.prefillRefusals.support(model: job.model, provider: provider)
        guard support.allowed else { return restart(support.reason) }
        guard let c = wire.continuation(of: request, partial: kept.text) else {
            let thinking = provider.kind == .anthropic && AnthropicWire.thinks(request)
            return restart(thinking ? "extended thinking is on, and a prefill after thinking is refused"
                                    : "the \(provider.kind.rawValue) format has no way to continue a partial answer")
        }
        guard let body = Self.withBudgetLeft(c.body, spent: kept.tokens) else {
            return restart("the \(kept.tokens) tokens kept used the whole max_tokens budget")
        }
        // The prefill is the kept text itself (it ends in no whitespace), so the seam is plain
        // concatenation and the budget left is exact.
        plan.body = body
        plan.kept = kept.text
        plan.keptTokens = kept.tokens
        plan.continuation = AttemptContinuation(method: provider.kind == .anthropic ? "prefill" : "continue_final_message",
                                                reason: support.reason)
        return .send(plan)
    }

    /// The kept partial a continuation builds on. The runner keeps partials without trailing
    /// whitespace (`LiveOutput.partial`); one that has some was written by an older version,
    /// which counted that whitespace as one token: it is trimmed here, with that token.
    static func keptPartial(text: String, tokens: Int) -> (text: String, tokens: Int) {
        guard Continuation.endsInWhitespace(text) else { return (text, tokens) }
        return (Continuation.prefill(for: text), max(0, tokens - 1))
    }

    /// `body` asking for the completion budget the kept tokens left (`spent` of `max_tokens`),
    /// or nil when they used all of it: a request cannot ask for 0 tokens, so the job restarts.
    static func withBudgetLeft(_ body: JSONValue, spent: Int) -> JSONValue? {
        var body = body
        for key in ["max_tokens", "max_completion_tokens"] {
            guard let m = body[key]?.intValue else { continue }
            guard m > spent else { return nil }
            body[key] = .int(Int64(m - spent))
        }
        return body
    }

    /// An attempt whose request went out: what its end needs, whether a head came or not (the
    /// stream, once it began, is `EndedStream.output`). While a stream runs no task holds it.
    final class Sent: Sendable {
        let attempt: Int
        /// When the request went out, and when the job was claimed (for its timings).
        let started: Double
        let claimed: Double
        /// The tokens the gate reserved for the request, settled against its usage at the end.
        let estimate: Int
        /// The text kept from earlier attempts that this one continues, and its tokens.
        let kept: String
        let keptTokens: Int
        let gate: ProviderGate
        /// Set when the provider is down and this request is its probe (`ProviderGate.admit`).
        let probe: Int?
        let modelCap: AsyncSemaphore?
        /// The request's token bounds (what a cut attempt without usage is charged), and the
        /// budget reserved for it (settled at the end).
        let bounds: RequestBounds
        let reservation: BudgetLedger.Reservation?
        let requestKey: RequestKey?
        /// A `/v1/responses` job's request, which its `response` object repeats (nil for chat).
        let responsesRequest: JSONValue?

        fileprivate init(_ a: Admitted, attempt: Int, started: Double) {
            self.attempt = attempt
            self.started = started
            self.claimed = a.prepared.claimed
            self.estimate = a.plan.estimate
            self.kept = a.plan.kept
            self.keptTokens = a.plan.keptTokens
            self.gate = a.gate
            self.probe = a.probe
            self.modelCap = a.modelCap
            self.bounds = a.prepared.bounds
            self.reservation = a.reservation
            self.requestKey = a.plan.requestKey
            // Not `nil` for chat: JSONValue takes a literal `nil` as .null.
            self.responsesRequest = a.execution.job.endpoint == .responses ? .some(a.plan.body) : .none
        }
    }

    /// The request's token bounds: from the stored request's length, not the body printed again
    /// (a cost on every job's path); a continuation adds the kept text and an assistant message.
    func bounds(of plan: Plan) -> RequestBounds {
        let bytes = job.request.utf8.count + (plan.kept.isEmpty ? 0 : plan.kept.utf8.count + 128)
        return RequestBounds(requestBytes: bytes, body: plan.body, provider: plan.provider.kind)
    }

    /// Begins the attempts of `admitted` in one call of the store and sends their requests; each
    /// one's end comes through `ends`. The jobs not sent (their lease was lost, or the database
    /// failed) are `done`, with their results.
    static func launch(_ admitted: [Admitted], ends: StreamEnds) async -> Started {
        var started = Started()
        guard let shared = admitted.first?.execution.shared else { return started }
        let (numbers, late) = await shared.startAttempts(admitted.map {
            AttemptStart(job: $0.execution.job.id, continuedFromChars: $0.plan.kept.isEmpty ? nil : $0.plan.kept.codePoints,
                         continuation: $0.plan.continuation)
        })
        let sentAt = Date().timeIntervalSince1970
        for (a, number) in zip(admitted, numbers) {
            let execution = a.execution
            switch number {
            case .success(let attempt):
                let sent = Sent(a, attempt: attempt, started: sentAt)
                if let late {
                    execution.finishing.giveBack(sent, ends: ends, late: late)
                } else {
                    execution.send(a.plan, as: sent, ends: ends)
                }
                started.launched += 1
            case .failure(let error):
                a.release()
                if error is LeaseLost {
                    execution.shared.events.log(.warning, "job \(execution.job.customID): lease lost to another runner; not sent")
                    started.done.append((.interrupted, execution.job.batchID))
                } else {
                    started.done.append((execution.databaseFailure(error), execution.job.batchID))
                }
            }
        }
        return started
    }

    /// Ends the attempt `sent` without sending its request: its start was confirmed after this
    /// runner's leases could have passed (`RunContext.startAttempts`). Written as interrupted
    /// (`stopped`); where another runner took the job meanwhile, the end is refused as `lease_lost`.
    private func giveBack(_ sent: Sent, ends: StreamEnds, late: StartConfirmedLate) {
        ends.post(EndedStream(execution: self, sent: sent, output: nil, end: .failure(late), at: now))
    }

    /// Sends the attempt `sent`'s request. No task waits for it: its head comes on the transport's
    /// thread (`began`), and its end, or the failure that came before a head, goes to `ends`. A run
    /// that is stopping sends nothing more: the attempt ends at once, interrupted.
    private func send(_ plan: Plan, as sent: Sent, ends: StreamEnds) {
        let finishing = self.finishing
        if Task.isCancelled {
            ends.post(EndedStream(execution: finishing, sent: sent, output: nil, end: .failure(CancellationError()), at: now))
            return
        }
        shared.client.send(body: plan.body, provider: plan.provider, wire: plan.wire) { head in
            switch head {
            case .success(let stream): finishing.began(stream, sent: sent, ends: ends)
            case .failure(let error):
                ends.post(EndedStream(execution: finishing, sent: sent, output: nil, end: .failure(error), at: Date().timeIntervalSince1970))
            }
        }
    }

    /// The head of `sent`'s request came (on the transport's thread: nothing here waits): the
    /// provider's rate-limit headers go to its gate, the stream's text to the flusher, its end to
    /// `ends`. A stream whose batch was cancelled, whose runner's leases lapsed or whose run is
    /// stopping is cancelled (from its registration on, the flusher cancels it with the others).
    private func began(_ stream: ChatCompletionStream, sent: Sent, ends: StreamEnds) {
        if let head = stream.head { sent.gate.observe(RateLimitInfo(headers: head.headers), estimatedTokens: sent.estimate) }
        let output = LiveOutput(job: job.id, batch: job.batchID, kept: sent.kept, keptTokens: sent.keptTokens, stream: stream)
        shared.flusher.register(output)
        stream.onEnd { [self] end in
            ends.post(EndedStream(execution: self, sent: sent, output: output, end: end, at: Date().timeIntervalSince1970))
        }
        let control = shared.control
        if control.isCancelled(batch: job.batchID) || control.leasesLapsed || control.isStopping { stream.cancel() }
    }

    /// Whether a job may go on, and with what (`reserve`, `admit`).
    enum Decided<Granted: Sendable>: Sendable {
        /// It may (with what it holds now).
        case granted(Granted)
        /// It may not: it failed (its model has no price), or was given back.
        case refused(JobResult)
    }

    /// Under a budget, reserves the attempt's worst case (`bounds` priced); a job that cannot
    /// fit is given back untouched.
    func reserve(_ bounds: RequestBounds) async throws -> Decided<BudgetLedger.Reservation?> {
        guard let budget = shared.budget, budget.governs(batch: job.batchID) else { return .granted(nil) }
        guard let price = shared.options.prices.price(for: job.model) else {
            return .refused(try await failWithoutAttempt(RequestFailure(kind: .noPrice, retryable: false, stopsProvider: false,
                                                                     message: "model \(job.model) has no price, so it cannot run under a budget")))
        }
        let worst = price.worstCase(promptTokens: bounds.promptTokens, completionTokens: bounds.completionTokens ?? 0)
        guard let granted = await budget.reserve(batch: job.batchID, amount: worst) else {
            try await shared.queue.release(job: job.id)
            return .refused(Task.isCancelled ? .interrupted : .budgetReached)
        }
        guard budget.hasStoredBudget(batch: job.batchID) else { return .granted(granted) }
        // The batch's own budget is every runner's: the store reserves against what all of them
        // spent and hold (`BatchBudgets`). While their running jobs may still free room, look again.
        while true {
            switch try await shared.queue.reserveBudget(job: job.id, batch: job.batchID, amount: worst) {
            case .reserved:
                return .granted(granted)
            case .wait:
                do {
                    try await Task.sleep(nanoseconds: 250_000_000)
                    continue
                } catch {
                    budget.settle(granted, cost: 0)
                    try await shared.queue.release(job: job.id)
                    return .refused(.interrupted)
                }
            case .reached(let spent, let limit):
                budget.settle(granted, cost: 0)
                budget.storedBudgetReached(batch: job.batchID, spent: spent, limit: limit)
                try await shared.queue.release(job: job.id)
                return .refused(.budgetReached)
            }
        }
    }

    /// The row a stream that ended well is written as (`finish(succeeded:)`), with what it was
    /// billed; its provider's gate told of the answer and of its tokens.
    private func success(of e: EndedStream) -> JobSuccess {
        let sent = e.sent
        guard let output = e.output else { preconditionFailure("success: a stream ended well without a head") }
        sent.gate.answered(sentAt: sent.started)
        var (outcome, usage) = outcome(of: sent, output: output, headersAt: e.headersAt, endedAt: e.at)
        outcome.charge = charge(of: output, bounds: sent.bounds)
        // Every answer gets its request's key, cached run or not: a later `--cache` run reuses it.
        outcome.requestKey = sent.requestKey
        if let usage { sent.gate.settle(estimatedTokens: sent.estimate, actualTokens: usage.totalTokens) }
        return JobSuccess(job: job.id, attempt: sent.attempt, outcome: outcome)
    }

    /// After the write of a stream's answer (`written`: whether the lease was held, or the
    /// write's error): the job's result.
    private func succeeded(_ e: EndedStream, _ outcome: JobOutcome, written: Result<Bool, any Error>) async -> JobResult {
        let sent = e.sent
        defer { release(sent, charge: outcome.charge ?? .none) }
        switch written {
        case .failure(let error):
            // The stream stays with the flusher: when the run stops before this write could commit
            // (a busy database), its last flush keeps the whole text as the job's partial.
            return databaseFailure(error)
        case .success(false):
            if let output = e.output { shared.flusher.unregister(output) }
            shared.events.log(.warning, "job \(job.customID): lease lost to another runner; its result was not written")
            return .interrupted
        case .success(true):
            if let output = e.output { shared.flusher.unregister(output) }
            shared.control.rateLimitedJobs.ended(job.id)
            if let cache = shared.cache, let key = outcome.requestKey { await cache.remember(job, key: key, outcome: outcome) }
            shared.events.succeeded(job: job.customID, completionTokens: outcome.completionTokens ?? 0)
            return .succeeded(seconds: now - sent.started)
        }
    }

    /// The row a finished stream becomes: the whole text (kept + continued), usage summed over
    /// segments, the rebuilt `chat.completion` object (`responseText`), the attempt's timings.
    private func outcome(of sent: Sent, output: LiveOutput, headersAt: Double?, endedAt end: Double) -> (JobOutcome, CompletionUsage?) {
        let stream = output.stream, started = sent.started
        var final = stream.completion
        let usage = final.usage
        let text = output.text
        if !final.choices.isEmpty, final.choices[0].message.content != nil || !output.kept.isEmpty {
            final.choices[0].message.content = text
        }
        // A continued answer: the reasoning before its kept text is the answer's too.
        if !output.kept.isEmpty, !job.partialReasoning.isEmpty, !final.choices.isEmpty {
            final.choices[0].message.reasoning = job.partialReasoning + (final.choices[0].message.reasoning ?? "")
        }
        let promptTokens = usage.map { $0.promptTokens + job.spentPromptTokens }
        // The kept text's tokens plus the continuation's (the kept text ends before any
        // whitespace, so nothing was produced twice).
        let completionTokens = usage.map { $0.completionTokens + output.keptTokens }
        if let p = promptTokens, let c = completionTokens, let u = usage {
            final.usage = CompletionUsage(promptTokens: p, completionTokens: c, cachedPromptTokens: u.cachedPromptTokens,
                                cacheWriteTokens: u.cacheWriteTokens, reasoningTokens: u.reasoningTokens)
        }
        let toolCalls = final.choices.first?.message.toolCalls
        let timings = AttemptTimings(claimed: sent.claimed, sent: started, headers: headersAt, end: end,
                                     stream: stream, outputTokens: usage?.completionTokens)
        var outcome = JobOutcome(
            output: text, toolCalls: toolCalls.map { JSONValue.array($0.map(\.json)).jsonString },
            finishReason: final.choices.first?.finishReason?.rawValue, providerFinishReason: final.choices.first?.providerFinishReason,
            response: responseText(final, sent: sent), promptTokens: promptTokens, completionTokens: completionTokens,
            firstTokenMs: timings.firstTokenMs,  // one rounding for the job and its attempt
            durationMs: Int((end - started) * 1000),
            // The provider's request id, else its id for this response (Gemini sends no request-id
            // header; its `responseId` is what its support asks for).
            httpStatus: stream.head?.status ?? 200, requestID: stream.head?.headers.requestID ?? (final.id.isEmpty ? nil : final.id),
            bytesReceived: stream.bytesReceived, charsReceived: stream.text.codePoints, timings: timings,
            cachedPromptTokens: usage?.cachedPromptTokens, cacheWriteTokens: usage?.cacheWriteTokens, reasoningTokens: usage?.reasoningTokens,
            reasoning: final.choices.first?.message.reasoning)
        outcome.endedAt = end
        return (outcome, usage)
    }

    /// The JSON text stored as the job's `response` (the `openai` export's body): the rebuilt
    /// `chat.completion`; for a `/v1/responses` job the provider's own `response` object, verbatim
    /// (its answer is one attempt's whole: a cut one restarts), else one rebuilt from the stream.
    private func responseText(_ final: ChatCompletion, sent: Sent) -> String {
        guard let request = sent.responsesRequest else { return final.jsonString }
        return (final.response ?? ResponseObject.make(final, request: request)).jsonString
    }

    /// Records a failed attempt and decides: retry later (back to the queue), fail, or stop.
    /// `clock`: when the job was claimed and the headers came (nil: none did), for the timings.
    private func ended(attempt: Int, error: any Error, live: LiveOutput?, kept: String, keptTokens: Int, gate: ProviderGate,
                       probe: Int?, sentAt: Double, clock: (claimed: Double, headers: Double?),
                       charge: AttemptCharge, endedAt: Double? = nil) async throws -> JobResult {
        let endedAt = endedAt ?? now
        // What this job has produced so far: kept text plus this attempt's, unless a tool call
        // was mid-flight (its arguments are incomplete JSON: restart instead).
        var keptText: String? = kept.isEmpty ? nil : kept
        var keptTok = keptTokens
        var discardsPartial = false
        var received = 0
        var receivedText: String?
        var keptReasoning: String?
        var keptChoices: String?
        if let live {
            let partial = live.stream.completion
            received = live.stream.text.codePoints  // this attempt's own text: the kept text's is not received again
            receivedText = partial.text.isEmpty ? nil : partial.text
            if partial.choices.first?.message.toolCalls?.isEmpty ?? true {
                let keptNow = live.partial
                keptText = keptNow.text.isEmpty ? nil : keptNow.text
                keptTok = keptNow.tokens
                // The reasoning before the kept answer goes with it (it was paid for); a cut
                // inside the reasoning keeps no answer, and the next attempt reasons anew.
                if keptText != nil {
                    keptReasoning = (kept.isEmpty ? "" : job.partialReasoning) + (partial.choices.first?.message.reasoning ?? "")
                    keptChoices = keptNow.choices
                }
            } else {
                keptText = nil
                keptTok = 0
                discardsPartial = true
            }
        }
        let bytes = live?.stream.bytesReceived ?? 0
        let failure = RequestFailure.classify(error)
        var record = AttemptFailure(kind: failure.kind, message: failure.message, httpStatus: failure.httpStatus,
                                    requestID: (error as? APIError)?.requestID, bytesReceived: bytes, charsReceived: received,
                                    keptPartial: keptText, keptPartialTokens: keptTok, spentPromptTokens: job.spentPromptTokens,
                                    receivedText: receivedText, discardsPartial: discardsPartial,
                                    timings: AttemptTimings(claimed: clock.claimed, sent: sentAt, headers: clock.headers, end: endedAt,
                                                            stream: live?.stream, outputTokens: nil),
                                    charge: charge,
                                    errorBody: (error as? APIError)?.body?.jsonString)
        record.keptReasoning = keptReasoning
        record.keptChoices = keptChoices
        record.endedAt = endedAt
        if let stopped = try await stopped(attempt: attempt, error: error, record: record) {
            return stopped
        }
        let counts = judge(failure, gate: gate, probe: probe, sentAt: sentAt, reached: failure.httpStatus != nil || live != nil)
        return try await conclude(attempt: attempt, error: error, failure: failure, record: record, counts: counts, continued: !kept.isEmpty)
    }

    /// An attempt that ended because its batch was cancelled or the run is stopping: written as
    /// such (nil when neither is the case).
    func stopped(attempt: Int, error: any Error, record: AttemptFailure) async throws -> JobResult? {
        var record = record
        if error is CancellationError && shared.control.isCancelled(batch: job.batchID) {
            record.kind = .cancelled
            record.message = "the batch was cancelled"
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .cancelled, retryAt: nil, finalState: .cancelled)
            return .cancelled
        }
        if let late = error as? StartConfirmedLate {
            record.kind = .interrupted
            record.message = late.description
            // Nothing was sent: the attempt is given back, not counted against the job's retries.
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .interrupted, retryAt: now,
                                              countsAsAttempt: false)
            return .interrupted
        }
        if error is CancellationError || Task.isCancelled {
            record.kind = .interrupted
            // A cancelled stream with the run going on: the lease keeper stopped it (`LeaseKeeper`).
            record.message = shared.control.leasesLapsed && !Task.isCancelled
                ? "stopped: this runner's lease renewals stopped getting through to the database, "
                    + "and another runner may take the job once its lease passes"
                : "the runner stopped (signal or deadline) during this attempt"
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .interrupted, retryAt: now)
            return .interrupted
        }
        return nil
    }

    /// What a failed request tells its provider's gate and the run: an outage goes on (or
    /// begins), the provider answered, a 429 pauses it, a quota or a bad key stops it. Once per
    /// request, however many jobs it carried (`EmbeddingsRequest`). Returns false when the failure
    /// belongs to an outage: the attempt is given back, not counted. `reached`: the provider
    /// answered (an error status, or a stream that began).
    func judge(_ failure: RequestFailure, gate: ProviderGate, probe: Int?, sentAt: Double, reached: Bool) -> Bool {
        if let reason = failure.unreachable {
            if !gate.unreachable(reason: reason, probe: probe) { return false }
        } else if failure.kind == .rateLimited {
            gate.rateLimited(sentAt: sentAt)
        } else if reached {
            gate.answered(sentAt: sentAt)
        }
        if failure.kind == .rateLimited { gate.pause(for: failure.retryAfter ?? 1) }
        if failure.stopsProvider {
            shared.stop(StopScope(provider: gate.name, model: failure.modelOnly ? job.model : nil), because: failure)
        }
        return true
    }

    /// Writes one job's failed attempt once its request was judged (`judge`): retry later (back
    /// to the queue), restart after a refused prefill, or fail. `counts`: false when the attempt is
    /// given back to an outage. `continued`: the attempt continued kept text. The jobs of one
    /// request pass the same `clock` and `jitter`, so they come back at the same moment and share
    /// a request again (`EmbeddingsRequest`); a chat job draws its own.
    func conclude(attempt: Int, error: any Error, failure: RequestFailure, record: AttemptFailure, counts: Bool,
                  continued: Bool, clock: Double? = nil, jitter: Double = Double.random(in: 0..<1)) async throws -> JobResult {
        var failure = failure, record = record
        let now = clock ?? self.now
        if !counts {
            // Part of an outage: back to pending with its attempt given back (the row stays, honest),
            // to wait at the gate. No line per job: the gate logs the provider's state changes.
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .retry, retryAt: now,
                                       countsAsAttempt: false)
            return .retrying
        }
        if continued, PrefillSupport.isRefusal(error) {
            // The model refuses prefill (Claude 4.6 and later): known from now on, in this run
            // and the database's next ones; the job restarts from scratch (`decide` says why), and
            // this attempt does not use up one of its retries.
            let message = (error as? APIError)?.message ?? failure.message
            if shared.control.prefillRefusals.learn(model: job.model, message: message) {
                try await shared.queue.recordPrefillRefusal(model: job.model, message: message)
                shared.events.log(.warning, "model \(job.model) refuses assistant prefill: its cut jobs restart from scratch")
            }
            record.kind = .prefillRefused
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .restart, retryAt: now, countsAsAttempt: false)
            return .retrying
        }
        // A 429 says "later", not "no": it uses up none of the job's attempts until the job has
        // heard nothing else for the outage limit; from then on they count, so a request no wait
        // lets through fails in --max-attempts. (Its provider gives up sooner if it answers no one
        // else: `ProviderHealth.rateLimited`.)
        var counted = true
        if failure.kind == .rateLimited {
            counted = shared.control.rateLimitedJobs.counts(job.id, at: now, after: shared.options.outageLimit)
        } else {
            shared.control.rateLimitedJobs.ended(job.id)
        }
        let used = attempt - job.attemptBase - (counted ? 0 : 1)
        if let delay = shared.options.retry.delay(after: max(used, 1), failure: failure, random: jitter) {
            let at = now + delay
            try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .retry, retryAt: at,
                                              countsAsAttempt: counted)
            shared.events.retrying(job: job.customID, failure: failure, attempt: counted ? used : attempt, delay: delay, counted: counted)
            return .retrying
        }
        if failure.retryable && used >= shared.options.retry.maxAttempts {
            failure.message = "gave up after \(used) attempts: \(failure.message)"
            record.message = failure.message
        }
        try await shared.queue.endAttempt(job: job.id, attempt: attempt, failure: record, outcome: .failed, retryAt: nil)
        shared.events.failed(job: job.customID, failure: failure)
        return .failed
    }

    func failWithoutAttempt(_ failure: RequestFailure) async throws -> JobResult {
        try await shared.queue.endWithoutAttempt(job: job.id, state: .failed, kind: failure.kind, message: failure.message)
        shared.events.failed(job: job.customID, failure: failure)
        return .failed
    }

    /// A rough token count for rate limiting before the provider reports usage: ~4 characters a
    /// token for the prompt, plus the completion budget (providers reserve max_tokens).
    static func estimateTokens(_ request: JSONValue) -> Int {
        // A value's length as JSON; a string's without printing it again (its quotes, not its
        // escapes: 18,000 instructions a job less with a 5 KB system prompt).
        func length(_ value: JSONValue?) -> Int {
            guard let value else { return 0 }
            if case .string(let s) = value { return s.utf8.count + 2 }
            return value.jsonString.utf8.count
        }
        var chars = 0
        for m in request["messages"]?.arrayValue ?? [] { chars += length(m["content"]) }
        // A Responses body: its input and instructions.
        for key in ["input", "instructions"] { chars += length(request[key]) }
        let budget = request["max_completion_tokens"]?.intValue ?? request["max_tokens"]?.intValue ?? request["max_output_tokens"]?.intValue ?? 256
        return chars / 4 + budget
    }
}

private extension String {
    /// How many Unicode code points: what SQLite's `length()` counts, and what `chars_received`
    /// and `continued_from_chars` count. The UTF-8 bytes less the continuation bytes
    /// (`10xxxxxx`), eight at a time: the scalar view's `count` walked ~12 instructions a byte.
    var codePoints: Int {
        var s = self
        return s.withUTF8 { bytes in
            guard let p = bytes.baseAddress else { return 0 }
            let highs: UInt64 = 0x8080_8080_8080_8080
            var continuations = 0, i = 0
            while i + 8 <= bytes.count {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                continuations += (w & ~(w << 1) & highs).nonzeroBitCount  // bit 7 set, bit 6 clear
                i += 8
            }
            while i < bytes.count {
                if p[i] & 0xC0 == 0x80 { continuations += 1 }
                i += 1
            }
            return bytes.count - continuations
        }
    }
}

extension JobExecution.Prepared {
    /// The admission when nothing is to be waited for: no budget governs the job, and its model's
    /// cap and its provider's gate let it go now. Nil (nothing taken) otherwise: `admit` then.
    func admitNow() -> JobExecution.Admitted? {
        let shared = execution.shared, job = execution.job
        if let budget = shared.budget, budget.governs(batch: job.batchID) { return nil }
        let modelCap = shared.gates.modelCap(for: plan.provider, model: job.model)
        let gate = shared.gates.gate(for: plan.provider)
        guard gate.admitNow(estimatedTokens: plan.estimate, modelCap: modelCap) else { return nil }
        return JobExecution.Admitted(prepared: self, reservation: nil, modelCap: modelCap, gate: gate, probe: nil)
    }

    /// The admission, waiting as long as it takes: the attempt's worst case reserved under a
    /// budget, then the model's cap and the provider's gate, so that an attempt's times are the
    /// request's own. A job refused on the way (its budget reached, its provider given up, the run
    /// stopping) is given back untouched.
    func admit() async throws -> JobExecution.Decided<JobExecution.Admitted> {
        let shared = execution.shared, job = execution.job
        let reservation: BudgetLedger.Reservation?
        switch try await execution.reserve(bounds) {
        case .granted(let r): reservation = r
        case .refused(let result): return .refused(result)
        }
        let gate = shared.gates.gate(for: plan.provider)
        let modelCap = shared.gates.modelCap(for: plan.provider, model: job.model)
        let probe: Int?
        do {
            probe = try await gate.admit(estimatedTokens: plan.estimate, modelCap: modelCap)
        } catch {
            execution.settle(reservation, .none)
            try await shared.queue.release(job: job.id)
            return .refused(error is ProviderUnreachable ? .heldBack(model: job.model) : .interrupted)
        }
        return .granted(JobExecution.Admitted(prepared: self, reservation: reservation, modelCap: modelCap, gate: gate, probe: probe))
    }
}

/// An attempt whose start was confirmed only after this runner's leases could have passed: its
/// request is not sent (`RunContext.startAttempts`).
struct StartConfirmedLate: Error, CustomStringConvertible {
    let lateBy: Duration

    var description: String {
        "not sent: this attempt's start was confirmed only after this runner's leases could have passed (the database answered "
            + "\(String(format: "%.1f", lateBy / .seconds(1))) s past "
            + "three quarters of the lease since its last renewal); another runner may have taken the job"
    }
}
