/// The SSE parser: any bytes, split anywhere, yield exactly the events of the bytes fed whole (and
/// the same error, if any). The first input byte picks the split points, and whether a small line
/// limit exercises the cap; with it, only "no crash" is checked, because the cap applies to a line
/// carried over between feeds, not to one found whole in a single feed (RELIABILITY.md, "Fuzzing").
enum FuzzSSE {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard let control = input.first else { return }
        let bytes = Array(input.dropFirst())
        let capped = control & 0x80 != 0
        let maxLine = capped ? 64 : 8 << 20
        let whole = events(bytes, maxLine: maxLine, pieces: [bytes[...]])
        let step = Int(control & 0x0F) + 1
        let pieces = stride(from: 0, to: bytes.count, by: step).map { bytes[$0..<min($0 + step, bytes.count)] }
        let split = events(bytes, maxLine: maxLine, pieces: pieces)
        if !capped, whole.events != split.events || whole.failed != split.failed {
            fuzzFinding("SSE split by \(step) differs: \(whole) vs \(split)")
        }
    }

    static func events(_ bytes: [UInt8], maxLine: Int, pieces: [ArraySlice<UInt8>]) -> (events: [SSEEvent], failed: Bool) {
        var parser = SSEParser(maxLineLength: maxLine)
        var out: [SSEEvent] = []
        do {
            for piece in pieces {
                try piece.withUnsafeBytes { try parser.feed($0, onEvent: { out.append($0) }) }
            }
        } catch {
            return (out, true)
        }
        return (out, false)
    }
}
