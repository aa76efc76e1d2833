import ChoreoAI
import ChoreoLocking

/// The models known in this run to refuse a prefill continuation (issue 12.8): loaded from the
/// database when the run starts and added to when a provider answers a prefill with its 400.
/// This overrides the configured and built-in rules (`Provider.prefillSupport(model:)`): the
/// provider has said so.
final class PrefillRefusals: Sendable {
    /// Model → the provider's message.
    private let models = Locked<[String: String]>([:])

    func load(_ refusals: [String: String]) { models.withLock { $0.merge(refusals) { old, _ in old } } }

    /// Whether `model` may be continued by prefill on `provider`, and why.
    func support(model: String, provider: Provider) -> PrefillSupport {
        if let message = models.withLock({ $0[model] }) {
            return PrefillSupport(allowed: false, reason: "\(model) refused a prefill earlier (HTTP 400: \(message))")
        }
        return provider.prefillSupport(model: model)
    }

    /// Records a refusal; true when it is news (the first job of the model to meet it).
    func learn(model: String, message: String) -> Bool {
        models.withLock { m in
            guard m[model] == nil else { return false }
            m[model] = message
            return true
        }
    }
}
