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
        let a = pushed.acc, b = expected
        if a.completion != b.completion || a.text != b.text || a.usage != b.usage || a.chunkCount != b.chunkCount
            || a.outputChunkCount != b.outputChunkCount || a.trailingBlankChunks != b.trailingBlankChunks || pushed.error != whole.error {
            fuzzFinding("push mode differs: \(a.completion), \(pushed.error ?? "no error") vs \(b.completion), \(whole.error ?? "no error")")
        }
    }

    /// The stream fed `step` bytes at a time and folded in push mode.
    static func fold(_ bytes: [UInt8], step: Int, _ decoder: some ChunkDecoder) -> (acc: ChunkAccumulator, error: String?) {
        var decoder = decoder
        var parser = SSEParser()
        var acc = ChunkAccumulator()
        do {
            for start in stride(from: 0, to: bytes.count, by: step) {
                try bytes[start..<min(start + step, bytes.count)].withUnsafeBytes { piece in
                    try parser.feed(piece, onEventView: { event in try decoder.decode(view: event, into: &acc) })
                }
            }
        } catch {
            return (acc, "\(error)")
        }
        return (acc, nil)
    }

    static func decode(_ bytes: [UInt8], step: Int, _ decoder: some ChunkDecoder) -> (chunks: [ChatCompletionChunk], error: String?, complete: Bool) {
        var decoder = decoder
        var parser = SSEParser()
        var chunks: [ChatCompletionChunk] = []
        do {
            for start in stride(from: 0, to: bytes.count, by: step) {
                try bytes[start..<min(start + step, bytes.count)].withUnsafeBytes { piece in
                    try parser.feed(piece, onEvent: { event in try decoder.decode(event) { chunks.append($0) } })
                }
            }
        } catch {
            return (chunks, "\(error)", decoder.isComplete)
        }
        return (chunks, nil, decoder.isComplete)
    }
}
