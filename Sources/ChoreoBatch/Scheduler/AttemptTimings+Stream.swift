import ChoreoAI

extension AttemptTimings {
    /// The timings of an attempt whose job was claimed at `claimed`, whose request went out at
    /// `sent`, whose headers came at `headers` (nil: none came) and that ended at `end` (unix
    /// seconds). `stream` is nil when none began; `outputTokens` is the attempt's own completion
    /// tokens when the provider reported them (else its output chunks stand in).
    init(claimed: Double, sent: Double, headers: Double?, end: Double, stream: ChatCompletionStream?, outputTokens: Int?) {
        self.init()
        queueMs = Self.ms(sent - claimed)
        guard let headers else { return }
        headersMs = Self.ms(headers - sent)
        streamingMs = Self.ms(end - headers)
        guard let stream else { return }
        let t = stream.timings
        chunks = stream.chunkCount
        if let first = t.firstOutputAt {
            firstTokenMs = Self.ms(first - sent)
            let tokens = outputTokens ?? stream.outputChunkCount
            if tokens > 0, end - first >= 0.001 { tokensPerSecond = Double(tokens) / (end - first) }
        }
        gaps = t.gaps.count
        gapsOver1s = t.gaps.overOneSecond
        if t.gaps.count > 0 {
            gapP50Ms = t.gaps.percentile(0.5).map { $0 * 1000 }
            gapP95Ms = t.gaps.percentile(0.95).map { $0 * 1000 }
            gapMaxMs = t.gaps.maxSeconds * 1000
        }
    }

    private static func ms(_ seconds: Double) -> Int { Int((max(0, seconds) * 1000).rounded()) }
}
