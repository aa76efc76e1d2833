import CBuildInfo

/// What `choreo --version` prints: the release and the commit it was built from.
enum Version {
    static let number = "0.1.0"

    /// The commit scripts/install.sh stamped into the build (`-dirty` when the tree had changes).
    static var commit: String? {
        let c = String(cString: choreo_build_commit())
        return c.isEmpty ? nil : c
    }

    static var description: String {
        "choreo \(number) (" + (commit.map { "commit \($0)" } ?? "commit unknown: built without scripts/install.sh") + ")"
    }
}
