import Foundation

/// Whether a cut stream of one model may be continued by a prefill (a trailing assistant message
/// the model carries on from), and why: `choreo show` prints the reason with each continuation.
public struct PrefillSupport: Sendable, Hashable {
    public var allowed: Bool
    public var reason: String

    public init(allowed: Bool, reason: String) {
        self.allowed = allowed
        self.reason = reason
    }

    /// Claude 4.6 and later (`claude-sonnet-4-6`, `claude-opus-4-6` … `4-8`, Sonnet 5 and newer)
    /// reject any request whose last message is the assistant's with a 400 (wire-formats-2.md
    /// §3.2, Anthropic's migration guide). Versions are read from the name: the first number
    /// after `claude-`, and the next one when it is a minor version (not an 8-digit date), so
    /// `claude-3-5-sonnet-20241022` is 3.5 and `claude-opus-4-20250514` is 4.0.
    public static func refusedByFamily(model: String) -> Bool {
        let name = model.lowercased()
        guard name.hasPrefix("claude-") else { return false }
        let parts = name.dropFirst("claude-".count).split { $0 == "-" || $0 == "." || $0 == "@" }
        guard let first = parts.firstIndex(where: { Int($0) != nil }), let major = Int(parts[first]) else { return false }
        let next = parts.index(after: first)
        let minor = next < parts.endIndex ? Int(parts[next]).flatMap { $0 < 100 ? $0 : nil } ?? 0 : 0
        return (major, minor) >= (4, 6)
    }

    /// What a model that refuses prefill says (HTTP 400 `invalid_request_error`): "This model does
    /// not support assistant message prefill. The conversation must end with a user message."
    public static let refusalText = "does not support assistant message prefill"

    /// Whether `error` is a provider refusing a prefill: the run then knows the model refuses it.
    public static func isRefusal(_ error: any Error) -> Bool {
        guard let e = error as? APIError, e.status == 400 else { return false }
        return e.message.localizedCaseInsensitiveContains(refusalText)
    }
}

extension Provider {
    /// Whether `model` may be continued by prefill here: `choreo.json`'s per-model `prefill`
    /// entries first (the longest matching pattern), then the built-in rule for the model's family,
    /// then the provider's own `prefill` (Anthropic: yes; others: only when configured or with
    /// `--continue-partial`). What a run learns from a refusal overrides all of them (the runner's
    /// `PrefillRefusals`).
    public func prefillSupport(model: String) -> PrefillSupport {
        let matching = prefillModels.filter { Provider.matches(pattern: $0.key, model: model) }
        if let entry = matching.max(by: { ($0.key.count, $0.key) < ($1.key.count, $1.key) }) {
            return PrefillSupport(allowed: entry.value, reason: "choreo.json: provider \(name) sets prefill \(JSONValue.quoted(entry.key)): \(entry.value)")
        }
        if PrefillSupport.refusedByFamily(model: model) {
            return PrefillSupport(allowed: false, reason: "\(model) refuses assistant prefill (built-in rule: Claude 4.6 and later)")
        }
        if supportsPrefill {
            return PrefillSupport(allowed: true, reason: "provider \(name) continues by prefill")
        }
        return PrefillSupport(allowed: false, reason: "provider \(name) has no prefill (\"prefill\": true in choreo.json, or --continue-partial)")
    }
}
