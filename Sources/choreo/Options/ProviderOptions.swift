import ArgumentParser
import ChoreoAI
import ChoreoBatch
import ChoreoMock
import Foundation

/// Where requests go: the configuration file, or the embedded mock provider.
struct ProviderOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Provider configuration file (JSON).", discussion: "Default: $CHOREO_CONFIG, else ./choreo.json when present.", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("A PEM file of certificate authorities to trust for https:// providers (a private CA), for every provider instead of choreo.json's ca_file.",
                                            discussion: "The system's authorities stay trusted beside it where libcurl has a CA directory (Debian: /etc/ssl/certs). SSL_CERT_FILE and CURL_CA_BUNDLE are not read. TLS verification is never turned off.",
                                            valueName: "path"))
    var cacert: String?

    @Flag(name: .long, help: "Send every request to the built-in mock provider, started in this process (no key needed).")
    var mock = false

    @Option(name: .customLong("mock-fault-rate"), help: ArgumentHelp("With --mock: the share of attempts that get a fault (drops, 429s, 5xx, stalls, malformed chunks).", valueName: "0..1"))
    var mockFaultRate: Double = 0

    @Option(name: .customLong("mock-chunk-delay-ms"), help: ArgumentHelp("With --mock: pause between streamed chunks.", valueName: "ms"))
    var mockChunkDelayMs: Int = 15

    func validate() throws {
        guard (0...1).contains(mockFaultRate) else { throw ValidationError("--mock-fault-rate must be between 0 and 1") }
        if mockFaultRate > 0 && !mock { throw ValidationError("--mock-fault-rate needs --mock") }
        if let cacert, let problem = CAFile.problem(at: cacert) { throw ValidationError("--cacert \(cacert): \(problem)") }
    }

    /// The routes of the configuration file in effect (`config`, else $CHOREO_CONFIG, else
    /// ./choreo.json when present), or the environment's defaults when there is none. Commands
    /// with a `--config` of their own but no mock (`report`, `estimate`) call it too.
    static func router(config: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProviderRouter {
        guard let path = config ?? ProviderConfiguration.defaultPath(environment: environment) else {
            return ProviderRouter.fromEnvironment(environment)
        }
        return try ProviderConfiguration.load(path: path, environment: environment)
    }

    /// The price table: built in, extended and overridden by the `prices` of the configuration
    /// file in effect.
    static func priceTable(config: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PriceTable {
        guard let path = config ?? ProviderConfiguration.defaultPath(environment: environment) else { return .builtIn() }
        return .builtIn(overriddenBy: try PriceTable.configured(fileAt: path))
    }

    func priceTable() throws -> PriceTable { try Self.priceTable(config: config) }

    /// The `cache` of the configuration file in effect (nil: none, or it says false).
    func configuredCache(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CacheOptions? {
        guard let path = config ?? ProviderConfiguration.defaultPath(environment: environment) else { return nil }
        return try CacheOptions.configured(fileAt: path)
    }

    /// The router for this invocation, and the mock server when one was started (keep it alive).
    func makeRouter(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> (ProviderRouter, MockServer?) {
        var router = try Self.router(config: config, environment: environment)
        if let cacert {
            let path = URL(fileURLWithPath: cacert).standardizedFileURL.path  // absolute: curl opens it later
            for i in router.providers.indices { router.providers[i].caFile = path }
        }
        guard mock else { return (router, nil) }
        var mockConfig = MockConfig()
        mockConfig.chunkDelay = .milliseconds(mockChunkDelayMs)
        mockConfig.faultRate = mockFaultRate
        let server = try await MockServer.start(config: mockConfig)
        var pointed = router.pointed(at: server.baseURL)
        // The mock stalls for a short while; keep stall detection short to match.
        for i in pointed.providers.indices { pointed.providers[i].stallTimeout = 1 }
        return (pointed, server)
    }

    /// Why a request for `model` cannot go out: its provider takes a key and none is set. `run`
    /// refuses to start for the same reason; without this, `ask` would answer with whatever the
    /// request failed with first (often "could not resolve host" when offline).
    static func missingKey(for model: String, in router: ProviderRouter) -> String? {
        guard let provider = router.provider(for: model), let variable = provider.missingKeyVariable else { return nil }
        return "\(variable) is not set: provider \(provider.name) serves model \(model). "
            + "Set the key in the environment (or use --mock to try without one)."
    }
}
