/// The Anthropic, Gemini and Responses API event decoders: any event stream decodes to chunks or a `WireError`,
/// never a crash, and a stream split anywhere decodes to the same chunks.
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
