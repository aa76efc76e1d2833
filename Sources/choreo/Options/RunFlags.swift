import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation

/// The options of a run, shared by `run`, `resume` and `submit --run`.
struct RunFlags: ParsableArguments {
    @Option(name: .long, help: "Streams in flight at most (an embeddings request is one, however many jobs share it).")
    var concurrency: Int = 64

    @Option(name: .customLong("max-attempts"), help: "Attempts per job before it fails for good (counted from the last resume; 429s and attempts lost to an outage do not count).")
    var maxAttempts: Int = 5

    @Option(name: .long, help: ArgumentHelp("Stop starting jobs in time to end by then: a duration (90s, 45m, 1h30m), a clock time (06:30: the next one, local) or a date and time (2026-12-04T06:30, local unless it names its zone).", valueName: "when"))
    var deadline: String?

    @Option(name: .long, help: "Requests per minute per provider (for providers without their own limit).")
    var rpm: Int?

    @Option(name: .long, help: "Tokens per minute per provider (for providers without their own limit).")
    var tpm: Int?

    @Flag(name: .customLong("continue-partial"), help: "Continue interrupted streams from their partial output on every provider (continue_final_message; also CHOREO_CONTINUE=1). Anthropic always does.")
    var continuePartial = false

    @Option(name: .customLong("flush-interval-ms"), help: "How often partial outputs are written to the database.")
    var flushIntervalMs: Int = 100

    // Every length of time below is read by `TimeArgument.seconds`: 90, 90s, 10m or 1h30m.
    @Option(name: .customLong("stall-timeout"), help: ArgumentHelp("How long an attempt may go without progress (a complete line or 1 KiB) before it counts as stalled.", valueName: "duration"), transform: TimeArgument.seconds)
    var stallTimeout: Double?

    @Option(name: .customLong("first-byte-timeout"), help: ArgumentHelp("How long an attempt may wait for the first byte of its answer: a model that reasons before it writes sends nothing meanwhile, and so does a server of your own for the requests it queues. (default: ten stall timeouts, 10m)", valueName: "duration"), transform: TimeArgument.seconds)
    var firstByteTimeout: Double?

    @Option(name: .long, help: ArgumentHelp("How long each attempt may take in all, connecting and the whole stream, however steadily it streams; one that runs over is retried with the text it received. For every provider; a job line's own timeout wins.", valueName: "duration"), transform: TimeArgument.seconds)
    var timeout: Double?

    @Option(name: .customLong("lease-seconds"), help: ArgumentHelp("How long a job stays leased to this runner without a heartbeat; a killed runner's jobs are taken back after it. (default: 30s)", valueName: "duration"), transform: TimeArgument.seconds)
    var leaseSeconds: Double = 30

    @Option(name: .customLong("stop-grace"), help: ArgumentHelp("After SIGINT/SIGTERM (or the deadline), how long the graceful stop may take before the run writes what was received and exits at once (a second signal does it at once). (default: 5s)", valueName: "duration"), transform: TimeArgument.seconds)
    var stopGrace: Double = 5

    @Option(name: .customLong("outage-limit"), help: ArgumentHelp("How long a provider may stay unreachable (connection refused, DNS, TLS, 502/503/504/529, every stream stalling), or answer nothing but 429s, before the run stops waiting for it; its jobs stay pending and the run exits 3. (default: 15m)", valueName: "duration"), transform: TimeArgument.seconds)
    var outageLimit: Double = 15 * 60

    @Option(name: .customLong("first-answer-limit"), help: ArgumentHelp("Stop waiting sooner for a provider that has not answered once in this run (a wrong base URL, a server that is not up). (default: 60s)", valueName: "duration"), transform: TimeArgument.seconds)
    var firstAnswerLimit: Double = 60

    @Option(name: .customLong("storage-wait"), help: ArgumentHelp("How long writes are tried again while the database's disk is full (or fails) before the run stops with exit 75; no job starts meanwhile. (default: 60s)", valueName: "duration"), transform: TimeArgument.seconds)
    var storageWait: Double = 60

    @Option(name: .long, help: ArgumentHelp("Spend at most this many US dollars (every attempt counted; exit 3 at the cap). With submit, also stored with the batch so every later run honours it. docs/cost.md.", valueName: "usd"))
    var budget: Double?

    @Flag(name: .long, help: "Answer a job identical to one finished earlier (any batch of this database, or --cache-db) with the stored answer instead of paying again; identical jobs in the queue are sent once. Only complete answers (stop, tool_calls) are reused, and only of requests with temperature 0 unless --cache-sampled. Also `\"cache\": true` in choreo.json. docs/cost.md.")
    var cache = false

    @Option(name: .customLong("cache-db"), help: ArgumentHelp("A cache file shared with other databases and machines: looked up after this database's own answers, and given every reusable answer this run gets (implies --cache).", valueName: "path"))
    var cacheDB: String?

    @Flag(name: .customLong("cache-sampled"), help: "With --cache: reuse answers to requests that sample (temperature absent or above 0) as well. Off by default: duplicates of such a request are often meant as separate draws.")
    var cacheSampled = false

    @Flag(name: .long, help: "Only print errors and the final summary.")
    var quiet = false

    @Option(name: .customLong("progress-interval"), help: ArgumentHelp("Time between progress updates: redraws of the live line on a terminal (default 0.25s), log lines otherwise (default 10s).", valueName: "duration"), transform: TimeArgument.seconds)
    var progressInterval: Double?

    @Option(name: .customLong("log-format"), help: "text or json (one JSON object per line, for log shippers).")
    var logFormat: String = "text"

    func validate() throws {
        guard concurrency >= 1 && concurrency <= 100_000 else { throw ValidationError("--concurrency must be between 1 and 100000") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        if let deadline {
            let now = Date()
            guard let at = DeadlineText.parse(deadline, now: now) else {
                throw ValidationError("--deadline \(deadline): expected \(DeadlineText.forms)")
            }
            // A run given a past deadline would start nothing and exit 3, night after night.
            guard at > now else {
                throw ValidationError("--deadline \(deadline) has passed: it was \(ProgressRenderer.clock(at)), and it is now \(ProgressRenderer.clock(now))")
            }
        }
        if let budget, !(budget >= 0 && budget.isFinite) { throw ValidationError("--budget must be a number of US dollars ≥ 0") }
        if let rpm, rpm <= 0 { throw ValidationError("--rpm must be positive") }
        if let tpm, tpm <= 0 { throw ValidationError("--tpm must be positive") }
        if let timeout, !(timeout > 0 && timeout <= JobLineValidator.maxTimeout) {
            throw ValidationError("--timeout must be more than 0 and at most \(Int(JobLineValidator.maxTimeout)) seconds")
        }
        if let stallTimeout, !(stallTimeout > 0) { throw ValidationError("--stall-timeout must be more than 0") }
        if let firstByteTimeout, !(firstByteTimeout > 0) { throw ValidationError("--first-byte-timeout must be more than 0") }
        guard leaseSeconds >= 1 else { throw ValidationError("--lease-seconds must be at least 1") }
        guard stopGrace >= 0 else { throw ValidationError("--stop-grace must not be negative") }
        if let progressInterval, !(progressInterval >= 0.01) { throw ValidationError("--progress-interval must be at least 0.01") }
        guard flushIntervalMs >= 10 else { throw ValidationError("--flush-interval-ms must be at least 10") }
        for (flag, limit) in [("--outage-limit", outageLimit), ("--first-answer-limit", firstAnswerLimit), ("--storage-wait", storageWait)] {
            guard limit > 0 else { throw ValidationError("\(flag) must be more than 0") }
        }
    }

    func runOptions(batch: String?) -> RunOptions {
        var o = RunOptions()
        o.batch = batch
        o.concurrency = concurrency
        o.retry.maxAttempts = maxAttempts
        o.deadline = deadline.flatMap { DeadlineText.parse($0) }
        o.requestsPerMinute = rpm
        o.tokensPerMinute = tpm
        o.continuePartial = continuePartial || ["1", "true", "yes"].contains(ProcessInfo.processInfo.environment["CHOREO_CONTINUE"]?.lowercased() ?? "")
        o.flushInterval = Double(flushIntervalMs) / 1000
        o.stallTimeout = stallTimeout
        o.firstByteTimeout = firstByteTimeout
        o.timeout = timeout
        o.leaseSeconds = leaseSeconds
        o.outageLimit = outageLimit
        o.firstAnswerLimit = firstAnswerLimit
        o.storageWait = storageWait
        o.budget = budget
        if cache || cacheDB != nil || cacheSampled {
            o.cache = CacheOptions(sharedPath: cacheDB, reuseSampled: cacheSampled)
        }
        return o
    }
}
