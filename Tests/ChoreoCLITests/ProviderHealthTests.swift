import Foundation
import Testing
@testable import ChoreoAI
@testable import ChoreoBatch

@Suite("Provider health: outage detection, probes and giving up (no I/O)")
struct ProviderHealthTests {
    func health(_ configure: (inout ProviderHealth.Policy) -> Void = { _ in }) -> ProviderHealth {
        var p = ProviderHealth.Policy()
        configure(&p)
        return ProviderHealth(policy: p, started: 0)
    }

    @Test func repeatedOutageFailuresPauseTheProviderAndOnlyTheFirstUsesAnAttempt() {
        var h = health()
        #expect(h.unreachable(reason: "connection refused", probe: nil, now: 1).counts)
        #expect(h.admit(now: 1).0 == .go)  // one failure may be a blip
        #expect(!h.unreachable(reason: "connection refused", probe: nil, now: 1.1).counts)
        let (counts, change) = h.unreachable(reason: "connection refused", probe: nil, now: 1.2)
        #expect(!counts)
        guard case .down(let o)? = change else { Issue.record("not down: \(String(describing: change))"); return }
        #expect(o.since == 1 && o.nextProbe == 2.2)
        guard case .wait(let w) = h.admit(now: 1.5).0 else { Issue.record("a request went out while down"); return }
        #expect(abs(w - 0.7) < 1e-9, "waits for the first probe, 1 s after the failures")
    }

    @Test func anAnswerToARequestSentBeforeTheFailuresDoesNotEndThem() {
        var h = health()
        _ = h.unreachable(reason: "HTTP 503", probe: nil, now: 10)
        _ = h.answered(sentAt: 9)  // a stream started before the outage, finishing now
        #expect(!h.unreachable(reason: "HTTP 503", probe: nil, now: 11).counts)
        guard case .down? = h.unreachable(reason: "HTTP 503", probe: nil, now: 11).change else { Issue.record("not down"); return }
        #expect(h.answered(sentAt: 9.5) == nil, "nor an outage")
        #expect(h.outage != nil)
    }

    @Test func anAnswerBetweenFailuresKeepsTheProviderUp() {
        var h = health()
        for t in 0..<10 {
            #expect(h.unreachable(reason: "HTTP 503", probe: nil, now: Double(t)).counts, "each lone failure is an ordinary retry")
            _ = h.answered(sentAt: Double(t) + 0.1)
        }
        #expect(h.admit(now: 11).0 == .go)
    }

    @Test func oneProbeAtATimeAtGrowingIntervalsAndAnAnswerReleasesEveryone() {
        var h = health()
        for _ in 0..<3 { _ = h.unreachable(reason: "empty reply", probe: nil, now: 0) }
        guard case .probe(let first) = h.admit(now: 1).0 else { Issue.record("no probe at 1 s"); return }
        guard case .wait = h.admit(now: 1).0 else { Issue.record("a second request went out with the probe"); return }
        _ = h.unreachable(reason: "connection refused", probe: first, now: 1.1)
        #expect(h.outage?.nextProbe == 3.1)  // 2 s after the first failed probe
        guard case .wait = h.admit(now: 2).0 else { Issue.record("probed before its time"); return }
        guard case .probe(let second) = h.admit(now: 3.1).0 else { Issue.record("no second probe"); return }
        _ = h.unreachable(reason: "connection refused", probe: second, now: 3.2)
        #expect(h.outage?.nextProbe == 7.2)  // then 4 s
        // A straggler admitted before the outage does not move the schedule.
        _ = h.unreachable(reason: "connection refused", probe: nil, now: 4)
        #expect(h.outage?.nextProbe == 7.2)
        guard case .probe(let third) = h.admit(now: 7.3).0 else { Issue.record("no third probe"); return }
        // An interrupted probe lets the next request probe at once.
        h.probeEnded(third)
        guard case .probe = h.admit(now: 7.4).0 else { Issue.record("probe slot not freed"); return }
        guard case .recovered(let o)? = h.answered(sentAt: 7.4) else { Issue.record("no recovery"); return }
        #expect(o.since == 0)
        #expect(h.admit(now: 8).0 == .go)
    }

    @Test func probeIntervalsStopGrowingAtTheMaximum() {
        var h = health { $0.firstProbeInterval = 1; $0.maxProbeInterval = 4; $0.outageLimit = 1000; $0.firstAnswerLimit = 1000 }
        for _ in 0..<3 { _ = h.unreachable(reason: "r", probe: nil, now: 0) }
        var t = 0.0
        for _ in 0..<6 {
            t = h.outage!.nextProbe
            guard case .probe(let id) = h.admit(now: t).0 else { Issue.record("no probe"); return }
            _ = h.unreachable(reason: "r", probe: id, now: t)
        }
        #expect(h.outage!.nextProbe - t == 4)
    }

    @Test func anOutagePastItsLimitIsGivenUp() {
        var h = health { $0.outageLimit = 10 }
        _ = h.answered(sentAt: 0)
        for _ in 0..<3 { _ = h.unreachable(reason: "HTTP 502", probe: nil, now: 5) }
        #expect(h.admit(now: 14.9).0 != .gaveUp)
        let (admission, change) = h.admit(now: 15)
        #expect(admission == .gaveUp)
        guard case .gaveUp(_, let neverAnswered)? = change else { Issue.record("no give-up change"); return }
        #expect(!neverAnswered)
        #expect(h.admit(now: 16).1 == nil, "given up once")
        // An answer afterwards does not bring it back in this run.
        _ = h.answered(sentAt: 17)
        #expect(h.admit(now: 17).0 == .gaveUp)
    }

    @Test func aProviderThatNeverAnsweredIsGivenUpAfterTheFirstAnswerLimit() {
        var h = health { $0.firstAnswerLimit = 2 }
        for _ in 0..<3 { _ = h.unreachable(reason: "connection refused", probe: nil, now: 0.1) }
        guard case .probe(let id) = h.admit(now: 1.1).0 else { Issue.record("no probe"); return }
        _ = h.unreachable(reason: "connection refused", probe: id, now: 1.1)  // next probe at 3.1
        guard case .wait(let w) = h.admit(now: 1.95).0 else { Issue.record("no wait"); return }
        #expect(w <= 0.05 + 1e-9, "waiters wake at the limit, not at the next probe")
        guard case .gaveUp(_, let neverAnswered)? = h.admit(now: 2).1 else { Issue.record("not given up"); return }
        #expect(neverAnswered)
    }

    /// The run's last line for a provider it gave up on says what fixes it where waiting does
    /// not: a host name that never resolved (a typo in the base URL), a certificate this machine
    /// does not trust. Both said "run `choreo run` again once it answers".
    @Test func theLastLineSaysWhatFixesWhatWaitingCannot() {
        func outage(_ e: TransportError, neverAnswered: Bool) -> ProviderOutage {
            ProviderOutage(provider: "openai", reason: RequestFailure.classify(e).unreachable ?? "", origin: "api.opnai.com:443",
                           since: Date(), nextProbe: nil, gaveUp: true, neverAnswered: neverAnswered)
        }
        let dns = TransportError(kind: .connect, curlCode: 6, message: "Could not resolve host: api.opnai.com")
        #expect(outage(dns, neverAnswered: true).remedy == "check the host name in its base URL (api.opnai.com), then run `choreo run` again")
        // A name that resolved earlier in the run: the resolver's outage, which waiting can end.
        #expect(outage(dns, neverAnswered: false).remedy == "run `choreo run` again once it answers")
        let refused = TransportError(kind: .connect, curlCode: 7, message: "Failed to connect to api.opnai.com port 443: Connection refused")
        #expect(outage(refused, neverAnswered: true).remedy == "run `choreo run` again once it answers")
        let untrusted = TransportError(kind: .tls, curlCode: 60, message: "SSL certificate problem: self-signed certificate")
        #expect(outage(untrusted, neverAnswered: true).remedy.hasPrefix("this machine does not trust its certificate"))
    }

    /// Stalls in a run where the provider answered may be its server's queue, not an outage: the
    /// line that says it went down says so too. Not for a provider that never answered, nor for
    /// other reasons.
    @Test func stallsAfterAnswersHintAtAServersQueue() {
        func outage(_ reason: String, neverAnswered: Bool) -> ProviderOutage {
            ProviderOutage(provider: "local", reason: reason, origin: "127.0.0.1:11434", since: Date(), nextProbe: nil,
                           gaveUp: false, neverAnswered: neverAnswered)
        }
        let stall = TransportError(kind: .stalled, message: "no progress for 60 s, no byte of an answer since the request went out")
        let reason = RequestFailure.classify(stall).unreachable ?? ""
        #expect(outage(reason, neverAnswered: false).queueHint?.hasPrefix("if its server queues more requests than it runs at once") == true)
        #expect(outage(reason, neverAnswered: true).queueHint == nil)
        #expect(outage("connection refused", neverAnswered: false).queueHint == nil)
    }

    @Test func failuresSayWhetherTheProviderIsUnreachable() {
        let refused = TransportError(kind: .connect, curlCode: 7, message: "Failed to connect to 127.0.0.1 port 9 after 0 ms: Connection refused",
                                     origin: "http://127.0.0.1:9")
        #expect(RequestFailure.classify(refused).unreachable == "connection refused")
        #expect(RequestFailure.classify(TransportError(kind: .connect, curlCode: 6, message: "Could not resolve host: x")).unreachable == "DNS lookup failed")
        #expect(RequestFailure.classify(TransportError(kind: .connectionLost, curlCode: 52, message: "Empty reply from server")).unreachable == "empty reply")
        #expect(RequestFailure.classify(TransportError(kind: .tls, curlCode: 35, message: "handshake")).unreachable == "TLS handshake failed")
        #expect(RequestFailure.classify(TransportError(kind: .stalled, message: "no data for 2 s")).unreachable == "stalled")
        // A stream that broke off midway: the provider answered.
        let cut = StreamError(kind: .interrupted, message: "cut", partial: ChatCompletion(id: "x", created: 0, model: "m", choices: [], usage: nil),
                              underlying: TransportError(kind: .connectionLost, curlCode: 18, message: "transfer closed"))
        #expect(RequestFailure.classify(cut).unreachable == nil)
        // A garbled reply (a bad status line, a size cap passed): something answered; the attempt's fault.
        let garbled = TransportError(kind: .protocolError, curlCode: 8, message: "Weird server reply")
        #expect(RequestFailure.classify(garbled).kind == "protocol_error" && RequestFailure.classify(garbled).unreachable == nil)
        for status in [502, 503, 504, 529] {
            #expect(RequestFailure.classify(APIError(status: status, type: nil, code: nil, message: "m", retryAfter: nil, requestID: nil, provider: "p")).unreachable == "HTTP \(status)")
        }
        for status in [400, 401, 429, 500] {
            #expect(RequestFailure.classify(APIError(status: status, type: nil, code: nil, message: "m", retryAfter: nil, requestID: nil, provider: "p")).unreachable == nil)
        }
    }

    @Test func theProgressLineSaysForHowLongWhyAndWhenTheNextProbeIs() {
        let now = Date()
        let o = ProviderOutage(provider: "openai", reason: "connection refused", origin: "127.0.0.1:9999", since: now.addingTimeInterval(-42),
                               nextProbe: now.addingTimeInterval(7.2), gaveUp: false, neverAnswered: false)
        #expect(o.progress(now: now) == "openai unreachable for 0:42 (connection refused); next probe in 8 s")
        #expect(o.cause == "connection refused at 127.0.0.1:9999")
        #expect(ProviderGates.hostAndPort("https://user:pw@api.example.com:8443/v1?key=k") == "api.example.com:8443")
    }
}

/// A 429 says "later", not "no" (the provider answered): it ends an outage, and only a provider
/// that answers nothing else for the outage limit is given up; a job's own 429s count against
/// its attempts only after it has heard nothing else for that long.
@Suite("Rate limits: 429s wait, and give up only past the outage limit (no I/O)")
struct RateLimitHealthTests {
    func health(limit: Double = 10) -> ProviderHealth {
        var p = ProviderHealth.Policy()
        p.outageLimit = limit
        return ProviderHealth(policy: p, started: 0)
    }

    @Test func nothingButRateLimitsForTheOutageLimitGivesTheProviderUp() {
        var h = health()
        #expect(h.rateLimited(sentAt: 0, now: 0) == nil)
        #expect(h.rateLimited(sentAt: 5, now: 9.9) == nil)
        #expect(h.admit(now: 9.9).0 == .go, "429s are spaced by the gate's pause, not held as an outage")
        guard case .gaveUp(let o, let neverAnswered)? = h.rateLimited(sentAt: 9, now: 10) else { Issue.record("not given up"); return }
        #expect(o.reason == RequestFailure.rateLimitedReason && o.since == 0 && !neverAnswered)
        #expect(h.admit(now: 10).0 == .gaveUp)
        #expect(h.rateLimited(sentAt: 10, now: 11) == nil, "given up once")
    }

    @Test func anotherAnswerStartsTheClockAgainButNotAnAnswerSentBeforeThe429s() {
        var h = health()
        _ = h.rateLimited(sentAt: 0, now: 1)
        _ = h.answered(sentAt: 0.5)  // a stream that began before the 429s
        #expect(h.rateLimitedSince == 1)
        _ = h.answered(sentAt: 6)  // a request sent since went through
        #expect(h.rateLimitedSince == nil)
        #expect(h.rateLimited(sentAt: 10, now: 12) == nil)
        #expect(h.rateLimited(sentAt: 20, now: 21.9) == nil)
        guard case .gaveUp? = h.rateLimited(sentAt: 21, now: 22) else { Issue.record("not given up 10 s after the clock began again"); return }
    }

    @Test func a429ToTheProbeEndsAnOutage() {
        var h = health(limit: 600)
        for _ in 0..<3 { _ = h.unreachable(reason: "HTTP 503", probe: nil, now: 1) }
        guard case .probe(let id) = h.admit(now: 2).0 else { Issue.record("no probe"); return }
        _ = id
        guard case .recovered? = h.rateLimited(sentAt: 2, now: 3) else { Issue.record("a 429 did not end the outage"); return }
        #expect(h.admit(now: 3).0 == .go)
    }

    @Test func aJobs429sCountOnlyAfterItHeardNothingElseForTheLimit() {
        let jobs = RateLimitedJobs()
        #expect(!jobs.counts(7, at: 100, after: 10))
        #expect(!jobs.counts(7, at: 109.9, after: 10))
        #expect(!jobs.counts(8, at: 109.9, after: 10), "each job has its own clock")
        #expect(jobs.counts(7, at: 110, after: 10))
        jobs.ended(7)  // an attempt that ended otherwise (a cut stream), or its success
        #expect(!jobs.counts(7, at: 111, after: 10))
        #expect(jobs.counts(8, at: 120, after: 10))
    }

    /// Gemini words a quota per day and one per minute alike; the violation's `quotaId` tells them
    /// apart: the day's stops the provider (as OpenAI's `insufficient_quota` does), the minute's waits.
    @Test(arguments: [("GenerateRequestsPerDayPerProjectPerModel-FreeTier", FailureKind.quota),
                      ("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", FailureKind.rateLimited)])
    func aGeminiQuotaPerDayStopsTheProviderAndOnePerMinuteWaits(quotaId: String, kind: FailureKind) {
        let body = #"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"\#(quotaId)"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}"#
        var provider = ProviderRouter.fromEnvironment([:]).providers.first { $0.kind == .gemini }!
        provider.apiKey = "k"
        let error = GeminiWire().decodeError(status: 429, headers: HeaderFields([]), body: Array(body.utf8), provider: provider)
        let f = RequestFailure.classify(error)
        #expect(f.kind == kind)
        #expect(f.stopsProvider == (kind == .quota))
        // A quota per day and model: the provider's other models still have theirs.
        #expect(f.modelOnly == (kind == .quota))
    }

    @Test func aRequestTooLargeForTheLimitIsABadRequestNotAWait() {
        let tooLarge = APIError(status: 429, type: "tokens", code: "rate_limit_exceeded",
                                message: "Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 41234. The input or output tokens must be reduced in order to run successfully.",
                                retryAfter: 1, requestID: nil, provider: "openai")
        let f = RequestFailure.classify(tooLarge)
        #expect(f.kind == .badRequest && !f.retryable && !f.stopsProvider && f.retryAfter == nil)
        let limited = APIError(status: 429, type: "requests", code: "rate_limit_exceeded",
                               message: "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.",
                               retryAfter: 1, requestID: nil, provider: "openai")
        #expect(RequestFailure.classify(limited).kind == .rateLimited)
    }
}
