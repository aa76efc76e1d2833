/// The OpenAI chunk scanner against the full JSON parser as the oracle: when the scanner decodes a
/// chunk, the full parser must decode the same chunk; the decoder (scanner first, parser behind)
/// must give the same chunks and error as the full parser alone, and in push mode (twice, the
/// second time through the template) the same accumulator.
enum FuzzOpenAIChunk {
    static func run(_ input: UnsafeRawBufferPointer) {
        var full: [ChatCompletionChunk] = []
        var fullError: String?
        do { try OpenAIChunkDecoder.decodeFull(input) { full.append($0) } } catch { fullError = "\(error)" }

        var scanner = OpenAIChunkScanner()
        if let fast = scanner.scan(input) {
            guard fullError == nil, full == [fast] else {
                fuzzFinding("scanner gave \(fast), full parser \(full) \(fullError ?? "")")
            }
        }
        var decoder = OpenAIChunkDecoder()
        var decoded: [ChatCompletionChunk] = []
        var decodedError: String?
        do { try decoder.decode(SSEEvent(data: Array(input))) { decoded.append($0) } } catch { decodedError = "\(error)" }
        // "[DONE]" is the decoder's business alone; the full parser sees text that is not JSON.
        if OpenAIChunkDecoder.isDone(input) { return }
        if decoded != full || decodedError != fullError {
            fuzzFinding("decoder gave \(decoded) \(decodedError ?? ""), full parser \(full) \(fullError ?? "")")
        }
        // Push mode, the event twice (the second through the template the first made): the
        // accumulator the full parser's chunks give.
        guard fullError == nil else { return }
        var expected = ChunkAccumulator()
        for chunk in full + full { expected.add(chunk) }
        var pushDecoder = OpenAIChunkDecoder()
        var pushed = ChunkAccumulator()
        do {
            try pushDecoder.decode(data: input, into: &pushed)
            try pushDecoder.decode(data: input, into: &pushed)
        } catch { fuzzFinding("push mode threw \(error) where the full parser did not") }
        if !FuzzDecoders.sameAnswer(pushed, expected) {
            fuzzFinding("push mode gave \(pushed.completion), the full parser's chunks \(expected.completion)")
        }
    }
}
