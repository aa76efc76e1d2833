import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing
@testable import ChoreoBatch

/// Issue 12.7, "a SIGKILL between any two writes": what a crash can leave in the database is the
/// last partial the runner wrote. Every partial it writes, at every chunk of a stream and of the
/// continuations of it however they are cut, is the answer's first t tokens without trailing
/// whitespace, with exactly the tokens that produced that text: a state a continuation extends to
/// exactly the answer (`ContinuationSeamTests` runs every such state through the real runner).
@Suite("Kept partials: every write is a state a continuation extends exactly")
struct KeptPartialTests {
    /// The answer's first `t` tokens as the runner keeps them, and the tokens that text took.
    static func state(_ tokens: [String], _ t: Int) -> (text: String, tokens: Int) {
        let covered = (tokens.prefix(t).lastIndex { !$0.allSatisfy(\.isWhitespace) }).map { $0 + 1 } ?? 0
        return (tokens.prefix(covered).joined(), covered)
    }

    static func chunk(_ text: String) -> ChatCompletionChunk {
        ChatCompletionChunk(id: "c", created: 0, model: "m", choices: [.init(delta: .init(content: text))])
    }

    @Test func everyWrittenPartialAcrossTwoCutsIsAnExactState() {
        var checked = 0, twoTokenWhitespace = 0
        for n in 0..<6 {
            let tokens = MockContent.tokens(model: "claude-sonnet-4-5", messages: [["role": "user", "content": .string("seam \(n)")]])
            if tokens.contains(" ") { twoTokenWhitespace += 1 }
            for k in 0...tokens.count {
                for m in 0...tokens.count {
                    // Attempt 1 receives k tokens; each later attempt continues from what the one
                    // before kept (the mock writes the answer from the first token not kept) and
                    // is cut after m; the last one runs to the end.
                    var kept = (text: "", tokens: 0)
                    for cut in [k, m, tokens.count] {
                        var acc = ChunkAccumulator()
                        let from = kept.tokens
                        for token in tokens[from..<min(tokens.count, from + cut)] {
                            acc.add(Self.chunk(token))
                            let written = LiveOutput.partial(kept: kept.text, keptTokens: kept.tokens, received: acc.text,
                                                             settledChunks: acc.outputChunkCount - acc.trailingBlankChunks)
                            let expected = Self.state(tokens, from + acc.outputChunkCount)
                            #expect(written == expected, "reply \(n), cuts \(k), \(m)")
                            checked += 1
                        }
                        kept = LiveOutput.partial(kept: kept.text, keptTokens: kept.tokens, received: acc.text,
                                                  settledChunks: acc.outputChunkCount - acc.trailingBlankChunks)
                    }
                    #expect(kept == (tokens.joined(), tokens.count), "reply \(n), cuts \(k), \(m)")
                }
            }
        }
        #expect(checked > 20_000)
        #expect(twoTokenWhitespace > 0, "some reply has whitespace of two tokens")
    }
}
