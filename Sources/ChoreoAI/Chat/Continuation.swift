/// Joining a continued answer to the text it continued (wire-formats.md §10).
public enum Continuation {
    /// The stored text after a continuation: `partial` (everything kept from before) followed by
    /// what the continuation produced, with nothing doubled at the seam. `sentPrefill` is what was
    /// actually sent as the trailing assistant message: `partial` without its trailing whitespace
    /// for Anthropic, which rejects it. The model may or may not repeat that whitespace; either
    /// way the result is `partial` + the rest.
    public static func join(partial: String, sentPrefill: String, continuation: String) -> String {
        repeatsTrimmedText(partial: partial, sentPrefill: sentPrefill, continuation: continuation)
            ? partial + continuation.dropFirst(partial.count - sentPrefill.count)
            : partial + continuation
    }

    /// Whether the continuation began by producing again the whitespace that was trimmed from the
    /// prefill (that text, and the token it cost, were already counted in the partial).
    public static func repeatsTrimmedText(partial: String, sentPrefill: String, continuation: String) -> Bool {
        let trimmed = partial.dropFirst(sentPrefill.count)
        return !trimmed.isEmpty && continuation.hasPrefix(trimmed)
    }

    /// `text` without trailing whitespace: what a prefill may carry (Anthropic rejects trailing
    /// whitespace; elsewhere trimming is harmless and keeps one rule for every provider).
    public static func prefill(for text: String) -> String {
        var end = text.endIndex
        while end > text.startIndex, text[text.index(before: end)].isWhitespace { end = text.index(before: end) }
        return String(text[..<end])
    }
}
