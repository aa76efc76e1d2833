import ChoreoAI

/// Puts the embeddings jobs the run loop claims into shared requests (`EmbeddingsRequest`): jobs
/// of one model, the same parameters (the body but its `input`: `dimensions`, `encoding_format`,
/// `user`, …) and the same `timeout` go in one request, their inputs one after another, until
/// the request is full.
///
/// How many per request, and why:
/// - at most `maxInputs` (512) inputs, and at most the provider's own limit (Gemini: 100).
///   OpenAI takes 2,048, but 512 already sends 1/512 as many requests as jobs of one string,
///   and a request that fails (a 429, a 5xx, a cut connection) is retried whole, so its size is
///   what one failure costs; its answer stays small too (512 × 3,072 float32 is 6 MB);
/// - at most `maxInputBytes` (200,000) bytes of input text, under OpenAI's 300,000 tokens per
///   request: a token is at least one byte of text;
/// - at most the job's `RunControl.sharedRequestLimit` jobs, once a request it was in was
///   refused as a whole.
/// A job larger than these alone goes in a request of its own; it is never split.
///
/// The run loop holds the jobs of a request still filling while its claims come back full, and
/// sends them as soon as it stops claiming (`flush`): a job never waits for others that are not
/// claimed yet. A request still filling holds a slot of `--concurrency` (`requestsFilling`), so
/// jobs of many different parameters are not all claimed into requests that never fill.
struct EmbeddingsBatcher {
    static let maxInputs = 512
    static let maxInputBytes = 200_000

    let client: ChoreoClient
    let control: RunControl

    private struct Key: Hashable {
        var model: String
        /// The body without `input`, keys sorted.
        var parameters: String
        var timeout: Double?
        var limit: Int
    }

    private struct Forming {
        var jobs: [ClaimedJob] = []
        var inputs = 0
        var bytes = 0
        var limits: (inputs: Int, jobs: Int)
    }

    private var forming: [Key: Forming] = [:]

    init(client: ChoreoClient, control: RunControl) {
        self.client = client
        self.control = control
    }

    /// Requests still filling: each holds a slot of the run's concurrency.
    var requestsFilling: Int { forming.count }

    /// Adds a claimed embeddings job; returns the requests that are full now (to send).
    mutating func add(_ job: ClaimedJob) -> [[ClaimedJob]] {
        // A job Choreo cannot read alone goes alone: its own attempt says what is wrong with it.
        guard let body = try? JSONValue.parse(job.request), case .object(var o) = body,
              let inputs = OpenAIEmbeddingsWire.inputs(of: body),
              let wire = (try? client.provider(for: job.model))?.kind.embeddingsWire else { return [[job]] }
        o["input"] = nil
        let limit = control.sharedRequestLimit(job: job.id) ?? Int.max
        let key = Key(model: job.model, parameters: JSONValue.object(o).jsonString, timeout: job.timeout, limit: limit)
        let bytes = inputs.reduce(0) { $0 + $1.utf8.count }
        var full: [[ClaimedJob]] = []
        var group = forming.removeValue(forKey: key)
            ?? Forming(limits: (min(Self.maxInputs, wire.maxInputsPerRequest), limit))
        if !group.jobs.isEmpty,
           group.inputs + inputs.count > group.limits.inputs || group.bytes + bytes > Self.maxInputBytes || group.jobs.count >= group.limits.jobs {
            full.append(group.jobs)
            group = Forming(limits: group.limits)
        }
        group.jobs.append(job)
        group.inputs += inputs.count
        group.bytes += bytes
        if group.inputs >= group.limits.inputs || group.bytes >= Self.maxInputBytes || group.jobs.count >= group.limits.jobs {
            full.append(group.jobs)
        } else {
            forming[key] = group
        }
        return full
    }

    /// Every request still filling, to send now.
    mutating func flush() -> [[ClaimedJob]] {
        defer { forming.removeAll() }
        return forming.values.map(\.jobs)
    }
}
