import ChoreoAI
import Testing

/// `Continuation.join` as a property: for every point where an answer is cut, and every point
/// where the continuation of it is cut again (inside the whitespace it re-sends too), the joined
/// text is exactly the uninterrupted answer up to the furthest point received.
@Suite("Continuation: the seam")
struct ContinuationTests {
    /// Answers with whitespace runs of several scalars (the soak's `" \n"`), CRLF (one `Character`,
    /// two scalars), a multi-scalar emoji and non-ASCII whitespace.
    static let answers = [
        "dog 🧪 \nΩmega", "dog 🧪 \n  \nΩmega", "a\r\n\r\nb", "Phobos and\u{3000}Deimos.\n\n👩🏽‍🚀 end", "x \t\n y", "one",
    ]

    static func prefix(_ s: String, _ n: Int) -> String { String(s.unicodeScalars.prefix(n)) }

    @Test(arguments: answers)
    func everyCutOfTheAnswerTimesEveryCutOfItsContinuationJoinsExactly(answer: String) {
        let length = answer.unicodeScalars.count
        for i in 0...length {
            let partial = Self.prefix(answer, i)
            let sent = Continuation.prefill(for: partial)
            let from = sent.unicodeScalars.count
            #expect(answer.unicodeScalars.starts(with: sent.unicodeScalars))
            var previous = ""
            for j in 0...(length - from) {
                // The model continues from `sent`: its text is the answer after it, cut after j scalars.
                let continuation = String(answer.unicodeScalars.dropFirst(from).prefix(j))
                let joined = Continuation.join(partial: partial, sentPrefill: sent, continuation: continuation)
                #expect(joined == Self.prefix(answer, max(i, from + j)), "cut at \(i), continuation cut at \(j)")
                // It only grows: text saved from it never has to be taken back.
                #expect(joined.unicodeScalars.starts(with: previous.unicodeScalars), "cut at \(i), continuation cut at \(j)")
                previous = joined
            }
        }
    }

    /// The soak's case: the continuation was cut after re-sending `" "` of the trimmed `" \n"`.
    /// The kept text must stay `"dog 🧪 \n"`, and the next continuation must join to the answer.
    @Test func aContinuationCutInsideTheResentWhitespaceKeepsThePartialUnchanged() {
        let kept = Continuation.join(partial: "dog 🧪 \n", sentPrefill: "dog 🧪", continuation: " ")
        #expect(kept == "dog 🧪 \n")
        #expect(Continuation.join(partial: kept, sentPrefill: Continuation.prefill(for: kept), continuation: " \nΩmega") == "dog 🧪 \nΩmega")
    }

    /// Successive cut attempts, each continuing from what the one before kept, end with exactly
    /// the answer, whatever the cut points (every pair of them here).
    @Test(arguments: answers)
    func successiveCutAttemptsEndWithTheAnswer(answer: String) {
        let length = answer.unicodeScalars.count
        for first in 0...length {
            for second in 0...length {
                var kept = Self.prefix(answer, first)
                for cut in [second, length] {
                    let sent = Continuation.prefill(for: kept)
                    let from = sent.unicodeScalars.count
                    let continuation = String(answer.unicodeScalars.dropFirst(from).prefix(max(0, cut - from)))
                    kept = Continuation.join(partial: kept, sentPrefill: sent, continuation: continuation)
                }
                #expect(kept == answer, "cuts at \(first), \(second)")
            }
        }
    }

    @Test func prefillTrimsWhitespaceScalarsOnly() {
        #expect(Continuation.prefill(for: "a \r\n\u{3000}") == "a")
        #expect(Continuation.prefill(for: " \n") == "")
        // A combining mark after a space is not whitespace: the prefill keeps it.
        #expect(Continuation.prefill(for: "a \u{301}") == "a \u{301}")
        #expect(Continuation.endsInWhitespace("a\r\n") && !Continuation.endsInWhitespace("a"))
    }
}
