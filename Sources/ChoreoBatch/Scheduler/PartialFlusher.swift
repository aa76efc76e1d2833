import ChoreoAI
import ChoreoLocking
import Synchronization

/// The text of one job's stream as it arrives: what was kept from earlier attempts plus what
/// this stream has received. The stream's own accumulator holds the text; nothing happens here
/// per chunk.
///
/// `kept` never ends in whitespace (see `partial`), so it is exactly the prefill the continuation
/// was asked from and the seam is plain concatenation.
final class LiveOutput: Sendable {
    let job: Int64
    let batch: String
    let kept: String
    let keptTokens: Int
    let stream: ChatCompletionStream
    /// The stream's chunk count at the last committed flush: the text changed when it moved on.
    let flushedChunks = Atomic<Int>(0)
    /// The length (UTF-8 bytes) of the head the store holds apart from the rest of the text
    /// (`PartialText.headBytes`), as of the last committed flush; -1 when the next write must
    /// be whole (none yet, or a write that counted on it was refused).
    private let storedHead = Atomic<Int>(-1)

    init(job: Int64, batch: String, kept: String, keptTokens: Int, stream: ChatCompletionStream) {
        self.job = job
        self.batch = batch
        self.kept = kept
        self.keptTokens = keptTokens
        self.stream = stream
    }

    /// Everything this job has produced so far, across attempts (the final answer's text).
    var text: String { kept + stream.text }

    /// What to keep of the job so far, should this stream end here: the text up to its last
    /// non-whitespace character and the completion tokens that produced it (output chunks stand
    /// in for tokens until usage arrives). The trailing whitespace is left out, text and tokens:
    /// a prefill cannot carry it, so the continuation writes it again, and keeping it too would
    /// double it or count its tokens twice. Each value is a prefix of the next as the stream
    /// grows, so a crash between any two writes of it leaves a partial a continuation extends
    /// to exactly the uninterrupted answer.
    ///
    /// With its job and, for an answer of several choices, every choice's text (a JSON array):
    /// what the store keeps (`PartialText`), all from one read of the stream.
    var partial: PartialText { partial(of: stream.textSoFar) }

    /// `partial` with the stream's chunk count it was read at, if chunks arrived since the last
    /// committed flush; nil when not. One look at the stream (its lock), changed or not.
    ///
    /// Its head: while the text stays within `restLimit` bytes past the head already stored, the
    /// write counts on that head (`headStored`), so the store rewrites only the rest; past it, or
    /// with no head known, the write is whole and a text longer than `restLimit` becomes the new
    /// head entire (the rest starts empty).
    func unflushedPartial(restLimit: Int) -> (partial: PartialText, chunks: Int)? {
        let now = stream.textSoFar
        guard now.chunks != flushedChunks.load(ordering: .relaxed) else { return nil }
        var p = partial(of: now)
        let length = p.text.utf8.count, head = storedHead.load(ordering: .relaxed)
        if head >= 0, head <= length, length - head <= restLimit {
            p.headBytes = head
            p.headStored = true
        } else {
            p.headBytes = length > restLimit ? length : 0
        }
        return (p, now.chunks)
    }

    private func partial(of read: ChatCompletionStream.TextSoFar) -> PartialText {
        let p = Self.partial(kept: kept, keptTokens: keptTokens, received: read.text, settledChunks: read.settledChunks)
        return PartialText(job: job, text: p.text, tokens: p.tokens, choices: Self.choicesJSON(read.everyChoice))
    }

    /// Every choice's text as `jobs.partial_choices` holds it: a JSON array of strings.
    static func choicesJSON(_ texts: [String]?) -> String? {
        texts.map { JSONValue.array($0.map(JSONValue.string)).jsonString }
    }

    /// `partial` from its parts: `received` is this stream's text, `settledChunks` its output
    /// chunks less the trailing ones that were only whitespace.
    static func partial(kept: String, keptTokens: Int, received: String, settledChunks: Int) -> (text: String, tokens: Int) {
        (Continuation.prefill(for: kept + received), keptTokens + settledChunks)
    }

    /// Records that the text up to `chunks` chunks is committed, with a head of `head` bytes.
    /// Called only after the write committed: a flush that failed (a busy database) leaves the
    /// text changed and the head as it was, so the next round writes it.
    func markFlushed(_ chunks: Int, head: Int) {
        flushedChunks.store(chunks, ordering: .relaxed)
        storedHead.store(head, ordering: .relaxed)
    }

    /// The store refused a write that counted on the stored head (it is not this runner's row, or
    /// not that head): the next flush writes the whole text.
    func rewriteWhole() { storedHead.store(-1, ordering: .relaxed) }
}

/// Writes the partial output of every streaming job to the database every `interval`, all in one
/// transaction, so a crash loses at most that window of text and the database never sits on the
/// per-chunk path.
final class PartialFlusher: Sendable {
    private let live = Locked<[Int64: LiveOutput]>([:])
    private let queue: any JobStore
    /// How far past its stored head a text is rewritten whole each flush before the head is
    /// written again (`LiveOutput.unflushedPartial`): the most a flush rewrites of one long answer.
    let restLimit: Int

    init(queue: any JobStore, restLimit: Int = 1024) {
        self.queue = queue
        self.restLimit = restLimit
    }

    func register(_ output: LiveOutput) { live.withLock { $0[output.job] = output } }

    /// Stops tracking a job's stream (its end is written). A newer attempt of the same job that
    /// registered meanwhile stays.
    func unregister(_ output: LiveOutput) {
        live.withLock { jobs in
            if jobs[output.job] === output { jobs.removeValue(forKey: output.job) }
        }
    }

    /// Writes every job whose text changed since the last flush.
    ///
    /// The texts are taken `batchSize` changed ones at a time: a text held here while its stream
    /// appends to it is copied by that append, so taking all 10,000 at once doubled their memory
    /// meanwhile. Each stream is looked at once, its text read with its chunk count.
    func flush(batchSize: Int = 500) async throws {
        let outputs = live.withLock { Array($0.values) }
        var next = 0
        while next < outputs.count {
            var batch: [(output: LiveOutput, chunks: Int)] = []
            var partials: [PartialText] = []
            while next < outputs.count, partials.count < batchSize {
                if let u = outputs[next].unflushedPartial(restLimit: restLimit) {
                    batch.append((outputs[next], u.chunks))
                    partials.append(u.partial)
                }
                next += 1
            }
            guard !partials.isEmpty else { break }
            let refused = try await queue.savePartials(partials)
            for (b, p) in zip(batch, partials) {
                if refused.contains(p.job) { b.output.rewriteWhole() } else { b.output.markFlushed(b.chunks, head: p.headBytes) }
            }
        }
    }

    /// The text of every stream being tracked, changed or not (the run is being aborted).
    func received() -> [PartialText] {
        live.withLock { Array($0.values) }.map(\.partial)
    }

    /// Cancels the streams of jobs in `batches` (the batch was cancelled while they ran); each
    /// job's task then records its attempt as cancelled.
    func cancelStreams(of batches: Set<String>) {
        guard !batches.isEmpty else { return }
        let doomed = live.withLock { jobs in jobs.values.filter { batches.contains($0.batch) } }
        for output in doomed { output.stream.cancel() }
    }

    /// Cancels every stream (the run is stopping).
    func cancelAllStreams() {
        let all = live.withLock { Array($0.values) }
        for output in all { output.stream.cancel() }
    }

    /// Flushes every `interval` seconds until cancelled, then once more. With thousands of streams
    /// open the interval stretches so that at most `maxRowsPerSecond` rows are rewritten per second
    /// (10,000 slow streams: every 0.5 s): the window a crash can lose grows, the write load does not.
    func run(interval: Double, maxRowsPerSecond: Double = 20_000) async {
        while !Task.isCancelled {
            let streams = Double(live.withLock { $0.count })
            try? await Task.sleep(nanoseconds: UInt64(max(interval, streams / maxRowsPerSecond) * 1e9))
            try? await flush()
        }
        try? await flush()
    }
}
