import ChoreoAI
import Synchronization

/// The text of one job's stream as it arrives: what was kept from earlier attempts plus what
/// this stream has received. The stream's own accumulator holds the text; nothing happens here
/// per chunk.
final class LiveOutput: Sendable {
    let job: Int64
    let batch: String
    let kept: String
    let sentPrefill: String
    let keptTokens: Int
    let stream: ChatCompletionStream
    /// The stream's chunk count at the last flush: the text changed when it moved on.
    let flushedChunks = Atomic<Int>(0)

    init(job: Int64, batch: String, kept: String, sentPrefill: String, keptTokens: Int, stream: ChatCompletionStream) {
        self.job = job
        self.batch = batch
        self.kept = kept
        self.sentPrefill = sentPrefill
        self.keptTokens = keptTokens
        self.stream = stream
    }

    /// Everything this job has produced so far, across attempts.
    var text: String { Continuation.join(partial: kept, sentPrefill: sentPrefill, continuation: stream.text) }
    /// Completion tokens spent so far (output chunks stand in for tokens until usage arrives).
    var tokens: Int { keptTokens + stream.outputChunkCount }

    /// Whether chunks arrived since the last call that returned true.
    func takeChanged() -> Bool {
        let n = stream.chunkCount
        return flushedChunks.exchange(n, ordering: .relaxed) != n
    }
}

/// Writes the partial output of every streaming job to the database every `interval`, all in one
/// transaction, so a crash loses at most that window of text and the database never sits on the
/// per-chunk path.
final class PartialFlusher: Sendable {
    private let live = Mutex<[Int64: LiveOutput]>([:])
    private let queue: JobQueue

    init(queue: JobQueue) { self.queue = queue }

    func register(_ output: LiveOutput) { live.withLock { $0[output.job] = output } }

    /// Stops tracking a job (its final state is written by its task).
    func unregister(_ job: Int64) { _ = live.withLock { $0.removeValue(forKey: job) } }

    /// Writes every job whose text changed since the last flush.
    ///
    /// The texts are taken `batchSize` at a time: a text held here while its stream appends to it
    /// is copied by that append, so taking all 10,000 at once doubled their memory meanwhile.
    func flush(batchSize: Int = 500) async throws {
        let changed = live.withLock { jobs in jobs.values.filter { $0.takeChanged() } }
        var start = 0
        while start < changed.count {
            let end = min(start + batchSize, changed.count)
            try await queue.savePartials(changed[start..<end].map { ($0.job, $0.text, $0.tokens) })
            start = end
        }
    }

    /// The text of every stream being tracked, changed or not (the run is being aborted).
    func received() -> [(job: Int64, text: String, tokens: Int)] {
        live.withLock { Array($0.values) }.map { ($0.job, $0.text, $0.tokens) }
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
