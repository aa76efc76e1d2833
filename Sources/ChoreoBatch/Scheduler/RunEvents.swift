import ChoreoAI
public import Foundation
import ChoreoLocking

/// What a run reports as it goes: counters for the progress display (read any time with
/// `snapshot`) and log lines for failures and retries (handed to `sink`).
public final class RunEvents: Sendable {
    public enum Level: String, Sendable { case info, warning, error }

    /// One log record. `job` is the custom_id; never carries a key or a request body.
    public struct Record: Sendable {
        public var time: Date
        public var level: Level
        public var message: String
        public var job: String?
        public var kind: String?

        public init(time: Date, level: Level, message: String, job: String? = nil, kind: String? = nil) {
            self.time = time
            self.level = level
            self.message = message
            self.job = job
            self.kind = kind
        }
    }

    /// The counters of a run.
    public struct Snapshot: Sendable {
        /// Jobs in scope when the run started (done + left).
        public var total = 0
        /// Jobs already finished before this run started.
        public var doneBefore = 0
        public var succeeded = 0
        /// Of `succeeded`, the jobs answered from the request cache (nothing sent).
        public var cached = 0
        public var failed = 0
        /// Jobs in scope cancelled since the run started (`choreo cancel`): pending ones at once,
        /// running ones when their streams stop. Read from the database, since another process
        /// cancels most of them.
        public var cancelled = 0
        public var retries = 0
        /// Jobs claimed and on their way: starting, streaming, their ends being written.
        public var inFlight = 0
        /// Jobs claimed and waiting to be admitted: for their provider's gate (a rate limit, an
        /// outage), their model's cap or their budget. Not counted in `inFlight`.
        public var waiting = 0
        /// Of `inFlight` as the run loop counts it, the embeddings requests waiting to be admitted
        /// in their own tasks (`requestWaiting`); `snapshot` moves them to `waiting`.
        var requestsWaiting = 0
        public var completionTokens = 0
        public var started = Date()
        /// The run has counted its jobs (`total` means something). Before, a progress line would
        /// read 0/0 as a full bar at 100 %.
        public var hasBegun = false
        /// Providers down (paused, probed) or given up in this run, by name.
        public var outages: [String: ProviderOutage] = [:]
        /// The database cannot be written at the moment (a full disk, an I/O error): no job starts
        /// until a write gets through, and the run stops at `stopsAt` if none does.
        public var storageFault: StorageFault?

        public var done: Int { doneBefore + succeeded + failed + cancelled }
        public var elapsed: Double { Date().timeIntervalSince(started) }
        public var tokensPerSecond: Double { elapsed > 0 ? Double(completionTokens) / elapsed : 0 }
        /// Seconds left at the rate of this run so far, nil before the first job ends and while
        /// the database cannot be written (nothing ends then, and the estimate would only grow).
        public var eta: Double? {
            let finished = succeeded + failed
            guard finished > 0, elapsed > 0, storageFault == nil else { return nil }
            return Double(max(0, total - done)) / (Double(finished) / elapsed)
        }
    }

    private let state = Locked(Snapshot())
    private let sink: @Sendable (Record) -> Void

    public init(sink: @escaping @Sendable (Record) -> Void = { _ in }) { self.sink = sink }

    public var snapshot: Snapshot {
        var s = state.withLock { $0 }
        s.inFlight -= s.requestsWaiting
        s.waiting += s.requestsWaiting
        return s
    }

    func begin(total: Int, doneBefore: Int) {
        state.withLock { $0.total = total; $0.doneBefore = doneBefore; $0.started = Date(); $0.hasBegun = true }
    }

    func inFlight(_ n: Int, waiting: Int) { state.withLock { $0.inFlight = n; $0.waiting = waiting } }

    /// An embeddings request in flight began (true) or ended (false) waiting to be admitted.
    func requestWaiting(_ begins: Bool) { state.withLock { $0.requestsWaiting += begins ? 1 : -1 } }

    func succeeded(job: String, completionTokens: Int, cached: Bool = false) {
        state.withLock { $0.succeeded += 1; $0.completionTokens += completionTokens; if cached { $0.cached += 1 } }
    }

    func failed(job: String, failure: RequestFailure) {
        state.withLock { $0.failed += 1 }
        sink(Record(time: Date(), level: .error, message: "failed: \(failure.message)", job: job, kind: failure.kind.rawValue))
    }

    /// A job failed as `provider_stopped`: counted, not logged one by one. Its provider's stop
    /// was logged once, saying its other jobs are not sent, and the run's end counts them: an
    /// expired key in a batch of a million would otherwise write a million lines that say nothing more.
    func notSent() { state.withLock { $0.failed += 1 } }

    func cancelled(_ n: Int) { state.withLock { $0.cancelled = n } }

    /// `counted`: false for an attempt that used up none of the job's (a 429's).
    func retrying(job: String, failure: RequestFailure, attempt: Int, delay: Double, counted: Bool = true) {
        state.withLock { $0.retries += 1 }
        sink(Record(time: Date(), level: .warning,
                    message: "attempt \(attempt) ended (\(failure.message)); retrying in \(String(format: "%.1f", delay)) s"
                        + (counted ? "" : " (not counted against --max-attempts)"),
                    job: job, kind: failure.kind.rawValue))
    }

    /// A provider went down, came back or was given up (one log line each), or its next probe moved.
    func provider(_ name: String, outage: ProviderOutage?, log: (Level, String)?) {
        state.withLock { $0.outages[name] = outage }
        if let (level, message) = log { sink(Record(time: Date(), level: level, message: message, job: nil, kind: "provider_unreachable")) }
    }

    /// The database stopped taking writes (`fault`) or takes them again (nil); one log line each.
    func storage(_ fault: StorageFault?, log: (Level, String)) {
        state.withLock { $0.storageFault = fault }
        self.log(log.0, log.1)
    }

    func log(_ level: Level, _ message: String, job: String? = nil) {
        sink(Record(time: Date(), level: level, message: message, job: job, kind: nil))
    }
}


/// The database of a run that cannot be written (`StorageHealth`): writes are retried until
/// `stopsAt`, then the run stops.
public struct StorageFault: Sendable, Hashable {
    /// `disk full` or `I/O error`.
    public var reason: String
    public var since: Date
    public var stopsAt: Date

    /// The progress line's part: `database not writable for 0:12 (disk full); stopping in 0:48`.
    public func progress(now: Date = Date()) -> String {
        "database not writable for \(ProviderOutage.clock(now.timeIntervalSince(since))) (\(reason)); "
            + "stopping in \(ProviderOutage.clock(stopsAt.timeIntervalSince(now)))"
    }
}

/// A provider that stopped answering in a run: paused and probed, or given up.
public struct ProviderOutage: Sendable, Hashable {
    public var provider: String
    /// What the latest failure said (`connection refused`, `HTTP 503`).
    public var reason: String
    /// Host and port (`127.0.0.1:9999`): never a path, where keys sometimes live.
    public var origin: String
    public var since: Date
    /// When the next probe goes out (nil once given up).
    public var nextProbe: Date?
    public var gaveUp: Bool
    /// It never answered in this run (a wrong base URL, a server that is not running).
    public var neverAnswered: Bool

    /// It answered, but nothing but 429s for the outage limit (`ProviderHealth.rateLimited`).
    public var isRateLimit: Bool { reason == RequestFailure.rateLimitedReason }

    /// What else stalls can mean, said when the provider goes down: a server that queues more
    /// requests than it runs at once (Ollama, llama.cpp with few slots) sends nothing to those it
    /// holds, and one held past the first-byte timeout counts as stalled
    /// (`HTTPRequest.firstByteTimeout`). Nil for other reasons, and for a provider that never
    /// answered in this run (then no stream of its ran at all).
    public var queueHint: String? {
        guard reason == RequestFailure.stalled, !neverAnswered else { return nil }
        return "if its server queues more requests than it runs at once (Ollama, llama.cpp), one it holds past the first-byte timeout "
            + "counts as stalled: set the provider's concurrency in choreo.json to what it runs at once"
    }

    /// `connection refused at 127.0.0.1:9999`.
    public var cause: String { origin.isEmpty ? reason : "\(reason) at \(origin)" }

    /// What to do about it once the run has given up, for the run's last line: waiting fixes an
    /// outage, not a certificate this machine does not trust, nor a host name that never resolved
    /// (a typo in the base URL).
    public var remedy: String {
        if isRateLimit { return "run `choreo run` again once its rate limit resets" }
        if reason == RequestFailure.untrustedCertificate {
            return "this machine does not trust its certificate (a private CA, or a proxy that inspects TLS): give the CA "
                + "with --cacert FILE or ca_file in choreo.json, then run `choreo run` again"
        }
        if neverAnswered && reason == RequestFailure.dnsLookupFailed {
            let host = origin.split(separator: ":").first.map(String.init) ?? origin
            return "check the host name in its base URL (\(host)), then run `choreo run` again"
        }
        return "run `choreo run` again once it answers"
    }

    /// What the provider has done by `now`, for a log line: `never answered in this run`,
    /// `answered only 429s for 15:00`, `unreachable for 0:42`.
    public func standing(at now: Date = Date()) -> String {
        if neverAnswered { return "never answered in this run" }
        let lasting = Self.clock(now.timeIntervalSince(since))
        return isRateLimit ? "answered only 429s for \(lasting)" : "unreachable for \(lasting)"
    }

    /// The progress line's part: `openai unreachable for 0:42 (connection refused); next probe in 8 s`.
    public func progress(now: Date = Date()) -> String {
        var s = "\(provider) unreachable for \(Self.clock(now.timeIntervalSince(since))) (\(reason))"
        if let nextProbe {
            let seconds = Int(nextProbe.timeIntervalSince(now).rounded(.up))
            s += seconds > 0 ? "; next probe in \(seconds) s" : "; probing"
        }
        return s
    }

    /// `0:42`, `1:02:03`.
    static func clock(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// A provider the run gave up waiting for, and its jobs left pending (see `RunSummary`).
public struct UnreachableProvider: Sendable, Hashable {
    public var outage: ProviderOutage
    public var jobsLeft: Int
}

/// A provider the run stopped (a bad key, an exhausted quota): the answer that stopped it, and how
/// many of its jobs the run then wrote as not sent (`provider_stopped`, which `choreo resume`
/// requeues; see `RunSummary`).
public struct StoppedProvider: Sendable, Equatable {
    public var provider: String
    /// Set when only this model of the provider was stopped (a quota per model, a model the key
    /// may not use).
    public var model: String?
    public var reason: String
    public var jobsNotSent: Int

    /// `provider openai`, `model o3 of provider openai`.
    public var subject: String { StopScope(provider: provider, model: model).description }
}
