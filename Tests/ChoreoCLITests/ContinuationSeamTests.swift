import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// Issue 12.7: the seam of a continued answer is exact, always. Against the real mock and the
/// real runner: every point where a stream is cut, times every point where its continuation is
/// cut again (inside the whitespace it writes again too), with and without a truncating
/// `max_tokens`, ends with exactly the uninterrupted text and token count.
@Suite("Continuation: the seam, end to end")
struct ContinuationSeamTests {
    /// A short reply with whitespace of two tokens (`" "` then a newline) in it, not at its start.
    static func conversation(model: String) -> (messages: [JSONValue], tokens: [String]) {
        for n in 0..<2000 {
            let messages: [JSONValue] = [["role": "user", "content": .string("Where is the seam, \(n)?")]]
            let tokens = MockContent.tokens(model: model, messages: messages)
            if tokens.count <= 24, let i = tokens.firstIndex(of: " "), i >= 2 { return (messages, tokens) }
        }
        fatalError("no mock reply has a two-token whitespace run: the mock's vocabulary changed")
    }

    /// Tokens of the answer that a partial kept after `received` of them covers: up to the last
    /// one that is not only whitespace (the runner keeps no trailing whitespace).
    static func covered(_ tokens: [String], received: Int) -> Int {
        (tokens.prefix(received).lastIndex { !$0.allSatisfy(\.isWhitespace) }).map { $0 + 1 } ?? 0
    }

    @Test(arguments: ["claude-sonnet-4-5", "gpt-4o-mini"])
    func everyCutTimesEveryCutOfTheContinuationEndsExactWithItsTokenBudget(model: String) async throws {
        let (messages, tokens) = Self.conversation(model: model)
        let space = tokens.firstIndex(of: " ")!
        // Natural length, and a max_tokens that ends the answer just after the two-token whitespace.
        var lines: [JSONValue] = []
        var expected: [String: (text: String, finish: String, tokens: Int)] = [:]
        for maxTokens in [200, space + 3] {
            let length = min(tokens.count, maxTokens)
            let reply = MockContent.reply(model: model, messages: messages, maxTokens: maxTokens)
            for k in 0...(length + 1) {
                for m in 0...(length - Self.covered(tokens, received: min(k, length)) + 1) {
                    let id = "max\(maxTokens)-k\(k)-m\(m)"
                    lines.append(["custom_id": .string(id), "model": .string(model), "messages": .array(messages),
                                  "max_tokens": .int(Int64(maxTokens)), "mock": ["fault": "drop", "after": [.int(Int64(k)), .int(Int64(m))]]])
                    expected[id] = (reply.text, reply.finishReason, length)
                }
            }
        }
        try await withMockServer { server in
        let fixture = try Fixture(lines: lines)
        let summary = try await fixture.run(server) { $0.continuePartial = true }
        #expect(summary.exitCode == 0)

        let db = try Database(path: fixture.databasePath, readOnly: true)
        var wrong: [String] = []
        var continued = 0
        try db.query("SELECT custom_id, state, output, finish_reason, completion_tokens, attempts FROM jobs") { row in
            let id = row.string(0)!
            let want = expected[id]!
            let got = (row.string(1), row.string(2), row.string(3), row.int(4))
            if got.0 != "succeeded" || got.1 != want.text || got.2 != want.finish || got.3 != want.tokens {
                wrong.append("\(id): \(got.0 ?? "") \(JSONValue.quoted(got.1 ?? "nil")) \(got.2 ?? "") \(got.3 ?? -1) tokens")
            }
            if row.int(5) == 3 { continued += 1 }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(lines.count) wrong, e.g. \(wrong.prefix(4)); want \(JSONValue.quoted(tokens.joined()))")
        #expect(continued > lines.count / 2, "most jobs were cut twice and continued")
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE continued_from_chars > 0") > lines.count / 2)
    }
    }
}
