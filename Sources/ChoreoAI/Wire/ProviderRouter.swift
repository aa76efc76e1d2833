public import Foundation

/// Picks the provider for a model name: the first configured provider whose patterns match, else
/// the defaults (`claude-*` → Anthropic, `gemini-*` → Gemini, anything else → OpenAI-compatible),
/// with endpoints and keys from each ecosystem's environment variables.
public struct ProviderRouter: Sendable {
    public var providers: [Provider]

    public init(providers: [Provider]) { self.providers = providers }

    /// The default providers, read from `environment`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ProviderRouter {
        ProviderRouter(providers: defaultProviders(environment))
    }

    public static func defaultProviders(_ env: [String: String]) -> [Provider] {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        var openAI = Provider(name: "openai", kind: .openAI, baseURL: value("OPENAI_BASE_URL") ?? "https://api.openai.com/v1",
                              apiKeyVariable: "OPENAI_API_KEY", apiKey: value("OPENAI_API_KEY"), modelPatterns: ["*"],
                              supportsPrefill: ["1", "true", "yes"].contains(value("CHOREO_CONTINUE")?.lowercased() ?? ""))
        if let org = value("OPENAI_ORG_ID") { openAI.extraHeaders.add(name: "OpenAI-Organization", value: org) }
        if let project = value("OPENAI_PROJECT_ID") { openAI.extraHeaders.add(name: "OpenAI-Project", value: project) }
        let anthropic = Provider(name: "anthropic", kind: .anthropic,
                                 baseURL: value("ANTHROPIC_BASE_URL") ?? "https://api.anthropic.com",
                                 apiKeyVariable: "ANTHROPIC_API_KEY", apiKey: value("ANTHROPIC_API_KEY"), modelPatterns: ["claude-*"])
        let gemini = Provider(name: "gemini", kind: .gemini,
                              baseURL: value("GEMINI_BASE_URL") ?? "https://generativelanguage.googleapis.com/v1beta",
                              apiKeyVariable: "GEMINI_API_KEY", apiKey: value("GEMINI_API_KEY") ?? value("GOOGLE_API_KEY"),
                              modelPatterns: ["gemini-*"])
        return [anthropic, gemini, openAI]
    }

    /// Whether every provider is reached over HTTPS, where curl asks for HTTP/2 and many streams
    /// share a connection (over cleartext HTTP each stream holds its own: h2c stays off).
    public var sharesConnections: Bool {
        providers.allSatisfy { $0.baseURL.lowercased().hasPrefix("https://") }
    }

    /// The provider serving `model`.
    public func provider(for model: String) -> Provider? {
        providers.first { p in p.modelPatterns.contains { Provider.matches(pattern: $0, model: model) } }
    }

    /// Every provider pointed at one base URL (the mock provider, a local gateway): each keeps its
    /// own wire format, with the URL adjusted to its SDK's convention.
    public func pointed(at origin: String) -> ProviderRouter {
        var copy = self
        let base = origin.hasSuffix("/") ? String(origin.dropLast()) : origin
        for i in copy.providers.indices {
            switch copy.providers[i].kind {
            case .openAI: copy.providers[i].baseURL = base + "/v1"
            case .anthropic: copy.providers[i].baseURL = base
            case .gemini: copy.providers[i].baseURL = base + "/v1beta"
            }
        }
        return copy
    }
}
