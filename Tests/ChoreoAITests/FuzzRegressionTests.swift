import Testing
@testable import ChoreoAI

/// Inputs `scripts/fuzz.sh` found that broke an invariant, kept as tests (and as seeds under
/// Fuzz/corpus). RELIABILITY.md, "Fuzzing".
@Suite struct FuzzRegressionTests {
    /// openai-chunk: a key with invalid UTF-8 was skipped by the scanner, which returned a chunk,
    /// while the full parser rejects the line. The scanner must decline what it cannot vouch for.
    @Test func scannerDeclinesAKeyThatIsNotUTF8() throws {
        let bytes = Array(#"{"id":"chatcmpl-T1","object":"chat.completion.chunk","model":"gpt-4o","ch"#.utf8) + [0x91, 0x9D]
            + Array(#"ces":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#.utf8)
        var scanner = OpenAIChunkScanner()
        #expect(bytes.withUnsafeBytes { scanner.scan($0) } == nil)
        var decoder = OpenAIChunkDecoder()
        #expect(throws: WireError.self) { try decoder.decode(SSEEvent(data: bytes)) { _ in } }
        // The same for the "object" value, the other string the scanner reads raw.
        let object = Array(#"{"id":"a","object":""#.utf8) + [0xC3] + Array(#"","choices":[]}"#.utf8)
        #expect(object.withUnsafeBytes { scanner.scan($0) } == nil)
    }

    /// openai-chunk: the full parser refuses a number no Double holds, the scanner skipped it and
    /// returned a chunk. A number past Double's range, with an exponent or 300+ digits, is declined.
    @Test func scannerDeclinesANumberADoubleCannotHold() throws {
        var scanner = OpenAIChunkScanner()
        for text in [#"{""  :9E88888}"#, #"{"x":-1e999,"choices":[]}"#, "{\"x\":\(String(repeating: "9", count: 400)),\"choices\":[]}"] {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { scanner.scan($0) } == nil, "\(text)")
            var decoder = OpenAIChunkDecoder()
            #expect(throws: WireError.self) { try decoder.decode(SSEEvent(data: bytes)) { _ in } }
        }
        // In range, with an exponent: still the fast path.
        let fine = Array(#"{"x":-1.5e-5,"choices":[]}"#.utf8)
        #expect(fine.withUnsafeBytes { scanner.scan($0) } != nil)
    }
}
