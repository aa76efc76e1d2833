/// The Anthropic, Gemini and Responses API event decoders: any event stream decodes to chunks or a `WireError`,
/// never a crash, and a stream split anywhere decodes to the same chunks; folded in push mode
/// (`decode(view:into:)`, the runner's), it gives the accumulator those chunks give.
enum FuzzDecoders {
    static func anthropic(_ input: UnsafeRawBufferPointer) { check(input, { AnthropicChunkDecoder(created: 1) }) }
    static func gemini(_ input: UnsafeRawBufferPointer) { check(input, { GeminiChunkDecoder(created: 1) }) }
    static func responses(_ input: UnsafeRawBufferPointer) { check(input, { ResponsesEventDecoder() }) }

    static func check(_ input: UnsafeRawBufferPointer, _ make: () -> some ChunkDecoder) {
        guard let control = input.first else { return }
        let bytes = Array(input.dropFirst())
        let whole = decode(bytes, step: max(bytes.count, 1), make())
        let split = decode(bytes, step: Int(control & 0x1F) + 1, make())
        if whole.chunks != split.chunks || whole.error != split.error || whole.complete != split.complete {
            fuzzFinding("decoding split differs: \(whole) vs \(split)")
        }
        var expected = ChunkAccumulator()
        for chunk in whole.chunks { expected.add(chunk) }
        let pushed = fold(bytes, step: Int(control & 0x1F) + 1, make())
        if !sameAnswer(pushed.acc, expected) || pushed.error != whole.error {
            fuzzFinding("push mode differs: \(pushed.acc.completion), \(pushed.error ?? "no error") vs \(expected.completion), \(whole.error ?? "no error")")
        }
    }

    /// The stream fed `step` bytes at a time and folded in push mode.
    static func fold(_ bytes: [UInt8], step: Int, _ decoder: some ChunkDecoder) -> (acc: ChunkAccumulator, error: String?) {
        var decoder = decoder
        var acc = ChunkAccumulator()
        let error = feed(bytes, step: step) { event in try decoder.decode(view: event, into: &acc) }
        return (acc, error)
    }

    static func decode(_ bytes: [UInt8], step: Int, _ decoder: some ChunkDecoder) -> (chunks: [ChatCompletionChunk], error: String?, complete: Bool) {
        var decoder = decoder
        var chunks: [ChatCompletionChunk] = []
        let error = feed(bytes, step: step) { event in try decoder.decode(event.event) { chunks.append($0) } }
        return (chunks, error, decoder.isComplete)
    }

    /// `bytes` through an SSE parser `step` bytes at a time, each event to `onEvent`; the error
    /// that stopped it, as text.
    static func feed(_ bytes: [UInt8], step: Int, _ onEvent: (SSEEventView) throws -> Void) -> String? {
        var parser = SSEParser()
        do {
            for start in stride(from: 0, to: bytes.count, by: step) {
                try bytes[start..<min(start + step, bytes.count)].withUnsafeBytes { try parser.feed($0, onEventView: onEvent) }
            }
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Whether two accumulators hold the same answer, as far as the runner reads it.
    static func sameAnswer(_ a: ChunkAccumulator, _ b: ChunkAccumulator) -> Bool {
        a.completion == b.completion && a.text == b.text && a.usage == b.usage && a.chunkCount == b.chunkCount
            && a.outputChunkCount == b.outputChunkCount && a.trailingBlankChunks == b.trailingBlankChunks
    }
}
