/// Joining a continued answer to the text it continued (wire-formats.md §10).
public enum Continuation {
    /// The stored text after a continuation: `partial` (everything kept from before) followed by
    /// what the continuation produced, with nothing doubled at the seam. `sentPrefill` is what was
    /// actually sent as the trailing assistant message: `partial` without its trailing whitespace
    /// for Anthropic, which rejects it. The model may or may not repeat that whitespace; either
    /// way the result is `partial` + the rest.
    public static func join(partial: String, sentPrefill: String, continuation: String) -> String {
        let trimmed = partial.dropFirst(sentPrefill.count)
        if !trimmed.isEmpty, continuation.hasPrefix(trimmed) {
            return partial + continuation.dropFirst(trimmed.count)
        }
        return partial + continuation
    }
}
