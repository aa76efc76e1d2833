public import ChoreoAI
public import Foundation
import ChoreoSQLite

/// How `choreo run` runs: limits, budgets, timings.
public struct RunOptions: Sendable {
    /// Only this batch (nil: every runnable job in the database).
    public var batch: String?
    /// Streams in flight at most; an embeddings request is one, however many jobs share it.
    public var concurrency: Int = 64
    /// Retry policy; `maxAttempts` counts from the last resume. A server's wait is honoured up to
    /// `RetryHints.maxWait`: the job waits in the queue, not in a task, and `deadline` still holds.
    public var retry = RetryPolicy(maxServerDelay: RetryHints.maxWait)
    /// Stop starting jobs in time to end by then; at the deadline, interrupt what is left.
    public var deadline: Date?
    /// Default request and token budgets per minute for providers without their own.
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    /// How often partial outputs are written (one transaction for all jobs).
    public var flushInterval: Double = 0.1
    /// Lease length; renewed every third of it while the runner lives.
    public var leaseSeconds: Double = 30
    /// Continue interrupted streams with a prefill on every provider (else only where configured).
    public var continuePartial = false
    /// Seconds without progress after which a stream counts as stalled, for every provider.
    public var stallTimeout: Double?
    /// Seconds the first byte of an answer may take, for every provider (nil: each provider's,
    /// by default ten stall timeouts).
    public var firstByteTimeout: Double?
    /// Seconds one attempt may take in all (connecting and the whole stream), for every provider;
    /// a job's own `timeout` wins (nil: each provider's, `choreo.json` `timeout`).
    public var timeout: Double?
    /// Seconds one database statement waits for a lock another process holds. A job's writes try
    /// again after it (until they commit or the run stops); tests make it short.
    public var busyTimeout = Database.defaultBusyTimeout
    /// How long writes are tried again while the disk is full (or the file system fails) before
    /// the run stops with exit 75; no job starts meanwhile (RELIABILITY.md, "Storage faults").
    public var storageWait: Double = 60
    /// A provider unreachable for longer than this is given up for the run: its jobs stay pending
    /// and the run ends with exit 3 (RELIABILITY.md, "Provider outages").
    public var outageLimit: Double = 15 * 60
    /// A provider that has not answered once this long after its first request is given up
    /// sooner: a wrong base URL should not hold a run for `outageLimit`.
    public var firstAnswerLimit: Double = 60
    /// The pause before the first probe of a provider that is down, and the longest one (it doubles).
    public var probeInterval: ClosedRange<Double> = 1...60
    /// What each model costs (built in, extended by `choreo.json`): every attempt's cost is recorded.
    public var prices = PriceTable.builtIn()
    /// The most this run may spend, in USD (`--budget`). Batches submitted with a budget are
    /// capped by it as well, whatever the run's (docs/cost.md).
    public var budget: Double?
    /// The request cache (`--cache`): nil, every job is sent.
    public var cache: CacheOptions?
    /// The providers are the embedded mock (`--mock`), on another port every run: request keys
    /// name it as the mock, so that its answers match each other across runs and never a real
    /// server's.
    public var embeddedMock = false
    /// At most this many connections open at once, busy and idle (`CurlTransport.limitConnections`;
    /// nil: the transport's default, the process's open-files limit less a reserve). A run that
    /// serves its own provider (the built-in mock) holds two files per connection.
    public var maxConnections: Int?

    public init() {}

    /// The cache key of a job's request as this run sends it (nil: no provider serves `model`, or
    /// the request is not a JSON object).
    func requestKey(model: String, request: String, path: JobEndpoint, client: ChoreoClient) -> RequestKey? {
        guard let provider = try? client.provider(for: model),
              let body = try? JSONValue.parse(request), body.objectValue != nil else { return nil }
        return requestKey(body: body, provider: provider, path: path)
    }

    /// The cache key of a request already parsed and routed (an attempt has both: no second parse).
    func requestKey(body: JSONValue, provider: Provider, path: JobEndpoint) -> RequestKey {
        RequestKey(body: body, endpoint: embeddedMock ? provider.kind.rawValue + " choreo-mock" : provider.cacheEndpoint, path: path)
    }

    /// The outage settings as the provider gates use them.
    var outagePolicy: ProviderHealth.Policy {
        var p = ProviderHealth.Policy()
        p.outageLimit = outageLimit
        p.firstAnswerLimit = firstAnswerLimit
        p.firstProbeInterval = probeInterval.lowerBound
        p.maxProbeInterval = probeInterval.upperBound
        return p
    }
}
