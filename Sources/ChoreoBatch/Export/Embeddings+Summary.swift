import ChoreoAI

extension Embeddings {
    /// For people (`choreo show`, the text export): how many vectors of how many dimensions, and
    /// the first few values of each of the first few vectors.
    /// `2 vectors × 4 dimensions` and lines like `  #0 [0.1234, -0.5678, 0.9, 0.1]`.
    func summary(values shown: Int = 5, vectors: Int = 3) -> String {
        var out = "\(count) vector\(count == 1 ? "" : "s") × \(dimensions) dimensions"
        for i in 0..<min(count, vectors) {
            let v = vector(i)
            out += "\n  #\(i) [" + v.prefix(shown).map { $0.description }.joined(separator: ", ") + (v.count > shown ? ", …" : "") + "]"
        }
        if count > vectors { out += "\n  … and \(count - vectors) more" }
        return out
    }
}
