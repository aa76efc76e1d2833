import Foundation
import Testing
@testable import ChoreoAI
import ChoreoTesting

@Suite struct ProviderConfigurationTests {
    static let example = #"""
        {"providers": [
          {"name": "local-vllm", "kind": "openai", "base_url": "http://10.0.0.5:8000/v1/", "api_key_env": "VLLM_KEY",
           "models": ["llama-*", "qwen*"], "concurrency": 64, "rpm": 600, "tpm": 200000, "prefill": true,
           "headers": {"X-Team": "data"}, "connect_timeout": 10, "stall_timeout": 90.5, "first_byte_timeout": 1200, "timeout": 600},
          {"name": "claude-eu", "kind": "anthropic", "base_url": "https://gateway.example.com/anthropic",
           "api_key_env": "GATEWAY_KEY", "models": ["claude-opus-*"], "concurrency": 4}
        ]}
        """#

    static func router(_ text: String, env: [String: String] = [:]) throws -> ProviderRouter {
        try ProviderConfiguration.router(parsing: Array(text.utf8), file: "choreo.json", environment: env)
    }

    /// The error `text` is rejected with.
    static func failure(_ text: String) -> ConfigurationError? {
        do { _ = try router(text); return nil } catch let e as ConfigurationError { return e } catch { return nil }
    }

    @Test func exampleConfiguresEveryField() throws {
        let router = try Self.router(Self.example, env: ["VLLM_KEY": "secret-1", "ANTHROPIC_API_KEY": "sk-ant"])
        let vllm = try #require(router.providers.first)
        #expect(vllm.name == "local-vllm" && vllm.kind == .openAI)
        #expect(vllm.baseURL == "http://10.0.0.5:8000/v1")
        #expect(vllm.apiKeyVariable == "VLLM_KEY" && vllm.apiKey == "secret-1")
        #expect(vllm.modelPatterns == ["llama-*", "qwen*"])
        #expect(vllm.maxConcurrency == 64 && vllm.requestsPerMinute == 600 && vllm.tokensPerMinute == 200_000)
        #expect(vllm.supportsPrefill)
        #expect(vllm.extraHeaders["X-Team"] == "data")
        #expect(vllm.connectTimeout == 10 && vllm.stallTimeout == 90.5 && vllm.firstByteTimeout == 1200 && vllm.timeout == 600)
        // A missing variable is not an error at load time.
        let gateway = try #require(router.providers.dropFirst().first)
        #expect(gateway.apiKeyVariable == "GATEWAY_KEY" && gateway.apiKey == nil)
        #expect(gateway.supportsPrefill, "Anthropic prefills by default")
        #expect(gateway.timeout == nil, "no bound on an attempt's whole time unless one is set")
        #expect(router.providers.map(\.name) == ["local-vllm", "claude-eu", "anthropic", "gemini", "openai"])
    }

    @Test(arguments: [("llama-3.1-8b", "local-vllm"), ("qwen2.5-72b", "local-vllm"), ("claude-opus-4", "claude-eu"),
                      ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "gemini"), ("gpt-4o-mini", "openai")])
    func routesByModelPattern(model: String, provider: String) throws {
        #expect(try Self.router(Self.example).provider(for: model)?.name == provider)
    }

    /// A model pattern's `*` stands for any text, however many there are and wherever they are
    /// (the shapes without one, or with one at the end, take a shorter path).
    @Test(arguments: [("gpt-4o-mini", "gpt-4o-mini", true), ("gpt-4o", "gpt-4o-mini", false), ("gpt-*", "gpt-4o-mini", true),
                      ("gpt-*", "gpt-", true), ("gpt-*", "chatgpt-4o", false), ("*", "anything", true), ("*-mini", "gpt-4o-mini", true),
                      ("*-mini", "gpt-4o", false), ("gpt-*-mini", "gpt-4o-mini", true), ("gpt-*-mini", "gpt-4o", false),
                      ("*4o*", "gpt-4o-mini", true), ("*4o*", "gpt-4.1", false), ("claude-*-4*", "claude-opus-4-1", true),
                      ("café-*", "café-latte", true), ("café-*", "cafe-latte", false)])
    func modelPatternsMatchWithWildcardsAnywhere(pattern: String, model: String, matches: Bool) {
        #expect(Provider.matches(pattern: pattern, model: model) == matches)
    }

    @Test func configuredProviderReplacesTheDefaultOfTheSameName() throws {
        let router = try Self.router(#"{"providers":[{"name":"openai","kind":"openai","models":["gpt-*"],"rpm":50}]}"#,
                                     env: ["OPENAI_API_KEY": "sk-1"])
        #expect(router.providers.map(\.name) == ["openai", "anthropic", "gemini"])
        // Without a base_url it is the official endpoint, with the usual key variable.
        let openAI = router.providers[0]
        #expect(openAI.baseURL == "https://api.openai.com/v1" && openAI.apiKeyVariable == "OPENAI_API_KEY" && openAI.apiKey == "sk-1")
        #expect(openAI.requestsPerMinute == 50)
        #expect(router.provider(for: "o3-mini") == nil, "the replacement serves only its own patterns")
    }

    @Test func wrongTypeNamesKeyPathAndLine() throws {
        let e = try #require(Self.failure("""
            {"providers": [
              {"name": "a", "kind": "openai", "base_url": "http://a/v1", "models": ["a-*"]},
              {"name": "b", "kind": "openai",
               "base_url": 8000,
               "models": ["b-*"]}
            ]}
            """))
        #expect(e.description == "choreo.json:4: providers[1].base_url: expected a string, found number")
        #expect(e.line == 4 && e.keyPath == "providers[1].base_url")
    }

    @Test func unknownKeyIsAnErrorWithASuggestion() throws {
        let e = try #require(Self.failure("""
            {"providers": [
              {"name": "a", "kind": "openai", "models": ["a-*"],
               "concurency": 8}
            ]}
            """))
        #expect(e.line == 3 && e.keyPath == "providers[0].concurency")
        #expect(e.message.hasPrefix("unknown key (did you mean concurrency?)"))
        #expect(Self.failure(#"{"providers": [], "defaults": {}}"#)?.keyPath == "defaults")
    }

    @Test func syntaxErrorNamesLineAndColumn() throws {
        let e = try #require(Self.failure("{\"providers\": [\n  {\"name\": \"a\",, \"kind\": \"openai\"}\n]}"))
        #expect(e.line == 2 && e.column == 16)
        #expect(e.description.hasPrefix("choreo.json:2:16: invalid JSON: "))
    }

    @Test func keysNeverLiveInTheFile() throws {
        let inline = try #require(Self.failure(#"{"providers":[{"name":"a","kind":"openai","models":["x"],"api_key":"sk-123"}]}"#))
        #expect(inline.keyPath == "providers[0].api_key")
        #expect(!inline.description.contains("sk-123"))
        let header = try #require(Self.failure(#"{"providers":[{"name":"a","kind":"openai","models":["x"],"headers":{"Authorization":"Bearer sk-1"}}]}"#))
        #expect(header.keyPath == "providers[0].headers.Authorization")
        #expect(!header.description.contains("sk-1"))
    }

    @Test(arguments: [
        (#"{"providers":[{"kind":"openai","models":["x"]}]}"#, "providers[0].name", "missing"),
        (#"{"providers":[{"name":"a","models":["x"]}]}"#, "providers[0].kind", #"missing (one of "openai", "anthropic", "gemini")"#),
        (#"{"providers":[{"name":"a","kind":"claude","models":["x"]}]}"#, "providers[0].kind",
         #"expected one of "openai", "anthropic", "gemini", found "claude""#),
        (#"{"providers":[{"name":"a","kind":"openai"}]}"#, "providers[0].models", #"missing (model-name patterns such as "llama-*")"#),
        (#"{"providers":[{"name":"a","kind":"openai","models":[]}]}"#, "providers[0].models", "must list at least one model-name pattern"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x", 3]}]}"#, "providers[0].models[1]", "expected a non-empty string, found number"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"concurrency":0}]}"#, "providers[0].concurrency",
         "expected a positive integer, found 0"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"rpm":"600"}]}"#, "providers[0].rpm",
         "expected a positive integer, found string"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"prefill":"yes"}]}"#, "providers[0].prefill",
         "expected true or false, or an object of model patterns to true or false, found string"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"base_url":"10.0.0.5:8000"}]}"#, "providers[0].base_url",
         #"expected an http:// or https:// URL, found "10.0.0.5:8000""#),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"stall_timeout":-1}]}"#, "providers[0].stall_timeout",
         "expected a positive number of seconds, found -1"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"first_byte_timeout":0}]}"#, "providers[0].first_byte_timeout",
         "expected a positive number of seconds, found 0"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"timeout":0}]}"#, "providers[0].timeout",
         "expected a positive number of seconds, found 0"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"timeout":"10m"}]}"#, "providers[0].timeout",
         "expected a number of seconds, found string"),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"]},{"name":"a","kind":"gemini","models":["y"]}]}"#,
         "providers[1].name", #""a" is already the name of another provider"#),
        (#"{"providers":[{"name":"a","kind":"openai","models":["x"],"rpm":1,"rpm":2}]}"#, "providers[0].rpm", "appears twice; keep one"),
        (#"{"providers":{}}"#, "providers", "expected an array, found object"),
        (#"{}"#, "providers", "missing (a list of provider objects)"),
    ])
    func invalidValuesAreReportedWithTheirKeyPath(text: String, keyPath: String, message: String) throws {
        let e = try #require(Self.failure(text))
        #expect(e.keyPath == keyPath)
        #expect(e.message == message)
        #expect(e.line == 1)
    }

    @Test func loadReadsTheFileAndNamesItInErrors() throws {
        let scratch = TemporaryDirectory("choreo-config")
        let dir = scratch.url
        let path = dir.appendingPathComponent("choreo.json").path
        try Data(Self.example.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ProviderConfiguration.load(path: path, environment: [:]).provider(for: "qwen3")?.name == "local-vllm")
        #expect(ProviderConfiguration.defaultPath(environment: [:], directory: dir.path) == path)
        #expect(ProviderConfiguration.defaultPath(environment: ["CHOREO_CONFIG": "/etc/c.json"], directory: dir.path) == "/etc/c.json")

        try Data(#"{"providers": [{"name": 1}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ConfigurationError.self) { try ProviderConfiguration.load(path: path, environment: [:]) }
        do { _ = try ProviderConfiguration.load(path: path, environment: [:]) } catch {
            #expect("\(error)" == "\(path):1: providers[0].name: expected a string, found number")
        }
        let missing = dir.appendingPathComponent("nope.json").path
        do { _ = try ProviderConfiguration.load(path: missing, environment: [:]); Issue.record("loaded a missing file") } catch {
            #expect("\(error)" == "\(missing): no such file")
        }
    }

    /// `ca_file` is resolved against the configuration file's directory (cron runs start anywhere)
    /// and checked when the file loads: a wrong path is an error naming the file, line and key.
    @Test func caFileIsRelativeToTheConfigurationAndCheckedWhenItLoads() throws {
        let scratch = TemporaryDirectory("choreo-config")
        let path = scratch.write("choreo.json", lines: [
            #"{"providers": ["#,
            #"  {"name": "gateway", "kind": "openai", "base_url": "https://gateway.internal/v1", "models": ["*"],"#,
            #"   "ca_file": "certs/internal-ca.pem"}"#,
            #"]}"#,
        ])
        do { _ = try ProviderConfiguration.load(path: path, environment: [:]); Issue.record("loaded with a missing CA file") } catch {
            #expect("\(error)" == "\(path):3: providers[0].ca_file: \(scratch.path)/certs/internal-ca.pem: no such file")
        }
        try FileManager.default.createDirectory(atPath: scratch.file("certs"), withIntermediateDirectories: true)
        scratch.write("certs/internal-ca.pem", lines: ["-----BEGIN CERTIFICATE-----", "MIIBdzCCAR2gAwIBAgIU", "-----END CERTIFICATE-----"])
        let router = try ProviderConfiguration.load(path: path, environment: [:])
        #expect(router.providers.first?.caFile == scratch.file("certs/internal-ca.pem"))
        #expect(router.providers.dropFirst().allSatisfy { $0.caFile == nil }, "the defaults trust the system's authorities")
    }

    @Test func exampleFileInJobsIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let router = try ProviderConfiguration.load(path: root.appendingPathComponent("jobs/choreo.example.json").path, environment: [:])
        #expect(router.providers.count > 3)
    }
}
