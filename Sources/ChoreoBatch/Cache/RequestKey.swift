public import ChoreoAI

/// What makes two jobs the same request for the response cache (docs/cost.md, "The request
/// cache"): the same body (model, messages, tools, sampling parameters, everything else that can
/// change the answer), in any JSON key order and number spelling (`1` and `1.0`), sent to the
/// same endpoint. The key is the SHA-256 of that, in hex.
///
/// Left out are only the body fields that cannot change the answer: how it is delivered
/// (`stream`, `stream_options`, which the runner sets anyway) and bookkeeping the provider
/// echoes or bills by (`metadata`, `user`, `store`, `service_tier`, `safety_identifier`,
/// `prompt_cache_key`). Anything else, known or not, is part of the key: an unknown parameter
/// might change the answer, and a cache that guesses wrong serves the wrong text.
public struct RequestKey: Sendable, Hashable {
    /// The hex SHA-256.
    public let value: String
    /// The request samples: its `temperature` is absent (every provider then samples, at 0.7
    /// to 1.0) or above 0. Its answer is one draw among many; reusing it is opt-in
    /// (`--cache-sampled`), since duplicates of a sampled request are often meant to be separate
    /// draws (self-consistency, best-of-n).
    public let samples: Bool

    /// Body fields that do not change the answer.
    static let ignoredFields: Set<String> = [
        "stream", "stream_options", "metadata", "user", "store", "service_tier", "safety_identifier", "prompt_cache_key",
    ]

    /// Bumped when what goes into a key changes: older keys then simply stop matching.
    static let version = "choreo-request-key-1"

    /// The key of `body` sent to `endpoint` (`Provider.cacheEndpoint`) at `path`: a chat
    /// completions request, or an embeddings one (deterministic: it never samples).
    public init(body: JSONValue, endpoint: String, path: JobEndpoint = .chatCompletions) {
        var kept = body.objectValue ?? [:]
        for field in Self.ignoredFields { kept[field] = nil }
        var sha = SHA256()
        // The path only where it is not chat: chat keys stay what they were before embeddings.
        sha.update((Self.version + "\n" + endpoint + (path == .chatCompletions ? "" : " " + path.rawValue) + "\n").utf8)
        // The writer sorts object keys and writes an integral double as an integer: one text per
        // value. Its bytes are hashed as they are (a `String` of them would be validated first).
        JSONValue.object(kept).jsonBytes.withUnsafeBytes { sha.update($0) }
        value = sha.hexDigest()
        samples = path == .embeddings ? false : (body["temperature"]?.doubleValue).map { $0 > 0 } ?? true
    }

    /// The key of a stored request (`job_requests.request`), or nil when it is not a JSON object.
    public init?(requestText: String, endpoint: String, path: JobEndpoint = .chatCompletions) {
        guard let body = try? JSONValue.parse(requestText), body.objectValue != nil else { return nil }
        self.init(body: body, endpoint: endpoint, path: path)
    }
}

extension Provider {
    /// Who answers, for the request cache: the wire format and the server's origin and path, so
    /// that the same model name on another server (a local llama.cpp and the real API) is another
    /// key. The key is never part of it.
    public var cacheEndpoint: String { kind.rawValue + " " + baseURL.lowercased() }
}
