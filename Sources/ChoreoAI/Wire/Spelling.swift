/// "Did you mean": the known name nearest to a misspelt one, for every message that refuses an
/// unknown key, parameter, field or role (the configuration file, job lines).
public enum Spelling {
    /// The nearest of `candidates` to `word`, ignoring case, when it is within `maxDistance`
    /// edits; by default a third of the word's length (1 to 3), and nothing for words under 3
    /// characters ("x" is no typo of "n").
    public static func nearest(to word: String, among candidates: some Sequence<String>, maxDistance: Int? = nil) -> String? {
        if maxDistance == nil, word.count < 3 { return nil }
        let limit = maxDistance ?? max(1, min(3, word.count / 3))
        var best: (name: String, distance: Int)?
        for c in candidates {
            let d = distance(word.lowercased(), c.lowercased())
            if d <= limit, d < (best?.distance ?? .max) { best = (c, d) }
        }
        return best?.name
    }

    /// `"; did you mean NAME?"` for the nearest candidate, or "" when none is near.
    public static func hint(for word: String, among candidates: some Sequence<String>) -> String {
        nearest(to: word, among: candidates).map { "; did you mean \($0)?" } ?? ""
    }

    /// Levenshtein distance.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
