public import Testing

/// Checks that a parser which takes its input in pieces (SSE, chunk decoders, line readers,
/// hashes) gives the same result however the input is cut: `parse` gets `input` whole, then
/// split in two at every position, then one byte at a time, each time with fresh state, and
/// every result must equal the whole one. Returns the whole input's result for further checks.
///
/// Pieces arrive cut anywhere on a real connection (inside a UTF-8 sequence, between CR and LF,
/// inside a JSON string); this is the one way the tests check that.
@discardableResult
public func expectEverySplitMatchesWhole<Result: Equatable>(
    _ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation,
    _ parse: (_ pieces: [ArraySlice<UInt8>]) throws -> Result
) throws -> Result {
    let whole = try parse([input[...]])
    for cut in 0...input.count {
        let result = try parse([input[..<cut], input[cut...]])
        #expect(result == whole, "split at byte \(cut) of \(input.count)", sourceLocation: sourceLocation)
    }
    let bytes = try parse(input.indices.map { input[$0..<($0 + 1)] })
    #expect(bytes == whole, "fed one byte at a time", sourceLocation: sourceLocation)
    return whole
}
