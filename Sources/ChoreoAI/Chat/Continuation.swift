/// Joining a continued answer to the text it continued (wire-formats.md §10).
///
/// A continuation is asked from `sentPrefill`: the kept partial without its trailing whitespace
/// (Anthropic rejects a prefill that ends in whitespace; elsewhere trimming is harmless and keeps
/// one rule for every provider). The model then usually writes that whitespace again, and its
/// stream may itself be cut anywhere, inside the re-sent whitespace too. Everything here works on
/// Unicode scalars, not `Character`s: `"\r\n"` is one `Character`, so a continuation that re-sends
/// `"\r"` and then `"\n"` would not match character by character.
public enum Continuation {
    /// The stored text after a continuation: `partial` (everything kept from before) followed by
    /// what the continuation produced, with nothing doubled at the seam. The continuation's
    /// leading text that repeats the whitespace trimmed off `partial` (all of it, or only the
    /// beginning when the continuation was cut inside it) is dropped; the rest is appended.
    ///
    /// The result only grows as `continuation` grows (each result is a prefix of the next), so
    /// partial text saved while a continuation streams never has to be taken back. `sentPrefill`
    /// must be a prefix of `partial` (it is `prefill(for: partial)`); otherwise nothing is dropped.
    public static func join(partial: String, sentPrefill: String, continuation: String) -> String {
        let resent = resentCount(partial: partial, sentPrefill: sentPrefill, continuation: continuation)
        if resent == 0 { return partial + continuation }
        var out = partial
        out.unicodeScalars.append(contentsOf: continuation.unicodeScalars.dropFirst(resent))
        return out
    }

    /// How many scalars at the start of `continuation` repeat the whitespace that `partial` has
    /// after `sentPrefill` (their longest common prefix): text, and tokens, already kept.
    public static func resentCount(partial: String, sentPrefill: String, continuation: String) -> Int {
        let kept = partial.unicodeScalars, sent = sentPrefill.unicodeScalars
        guard kept.count > sent.count, kept.starts(with: sent) else { return 0 }
        var n = 0
        for (a, b) in zip(kept.dropFirst(sent.count), continuation.unicodeScalars) {
            guard a == b else { break }
            n += 1
        }
        return n
    }

    /// `text` without trailing whitespace: what a prefill may carry, and the part of a partial
    /// answer worth keeping for a continuation (the model writes the whitespace after it again).
    /// `text` itself when it has none (the flusher asks this of every stream's whole text on
    /// every flush: a copy then would cost a text's length each time).
    public static func prefill(for text: String) -> String {
        let scalars = text.unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex, isWhitespace(scalars[scalars.index(before: end)]) {
            end = scalars.index(before: end)
        }
        return end == scalars.endIndex ? text : String(scalars[..<end])
    }

    /// Whether `text` ends in whitespace (a prefill of it would be trimmed).
    public static func endsInWhitespace(_ text: String) -> Bool {
        text.unicodeScalars.last.map(isWhitespace) ?? false
    }

    /// Whether `scalar` is whitespace as a prefill reads it: Unicode's White_Space. ASCII is
    /// decided without the property tables: asking them costs ~290 instructions a scalar.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x80 ? v == 0x20 || (0x09...0x0D).contains(v) : scalar.properties.isWhitespace
    }
}
