public import Foundation

/// Reads `choreo.json`, the file that declares providers beyond the built-in defaults: local
/// servers, gateways, extra accounts, and the limits the batch runner keeps to for each.
///
/// ```json
/// {"providers": [
///   {"name": "local-vllm", "kind": "openai", "base_url": "http://10.0.0.5:8000/v1", "api_key_env": "VLLM_KEY",
///    "models": ["llama-*", "qwen*"], "concurrency": 64, "rpm": 600, "tpm": 200000, "prefill": true,
///    "headers": {"X-Team": "data"}, "connect_timeout": 10, "stall_timeout": 60}
/// ]}
/// ```
///
/// Each provider has:
/// - `name` (required, unique): how jobs, limits and errors refer to it.
/// - `kind` (required): the wire format, `"openai"` (and compatible servers), `"anthropic"` or `"gemini"`.
/// - `models` (required, non-empty): model-name patterns, `*` matching any run of characters.
/// - `base_url`: per each SDK's convention (OpenAI's includes `/v1`, Anthropic's does not, Gemini's
///   includes `/v1beta`). Omitted: the kind's official endpoint (or its `*_BASE_URL` variable), and
///   then `api_key_env` defaults to the kind's usual variable (`ANTHROPIC_API_KEY`, …).
/// - `api_key_env`: the *name* of the environment variable holding the key. The key itself never
///   goes in the file (`api_key` and credential headers are rejected). A variable that is unset is
///   not an error here: it is reported when a job for that provider runs.
/// - `concurrency`, `rpm`, `tpm`: positive integers, limits for the batch runner.
/// - `model_concurrency`: `{"pattern": n}`, streams in flight at most per model pattern (within `concurrency`).
/// - `prefill`: whether an interrupted stream may be continued by prefill (default: Anthropic only,
///   and not Claude 4.6 or later), or `{"pattern": true|false}` per model (the longest matching
///   pattern wins; other models keep the default). See `Provider.prefillSupport(model:)`.
/// - `headers`: extra request headers, string to string.
/// - `connect_timeout`, `stall_timeout`: seconds (defaults 10 and 60).
/// - `first_byte_timeout`: seconds the first byte of an answer may take (default: ten stall
///   timeouts): a model that reasons before it writes, a server that queues requests past its slots.
/// - `timeout`: seconds one attempt may take in all, connecting and the whole stream (default:
///   no bound); a job line's own `timeout` wins.
/// - `ca_file`: a PEM file of certificate authorities to trust for the provider's `https://` server
///   (a private CA), relative to the configuration file's directory. It must be readable and hold a
///   certificate when the file is loaded, so a wrong path is an error before any request.
///
/// Routing: a model goes to the first configured provider (in file order) with a matching
/// pattern, then to the defaults (`claude-*` → Anthropic, `gemini-*` → Gemini, anything else →
/// OpenAI). A configured provider named like a default (`openai`) replaces it. Unknown keys are
/// errors, so a typo cannot silently drop a limit.
public enum ProviderConfiguration {
    /// The file looked for in the working directory.
    public static let fileName = "choreo.json"

    /// `CHOREO_CONFIG` when set, else `choreo.json` in `directory` when it exists, else nil.
    public static func defaultPath(environment: [String: String], directory: String = FileManager.default.currentDirectoryPath) -> String? {
        if let path = environment["CHOREO_CONFIG"], !path.isEmpty { return path }
        let path = (directory as NSString).appendingPathComponent(fileName)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The router for the file at `path`: its providers first, in file order, then the defaults.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProviderRouter {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            throw ConfigurationError(file: path, message: reason)
        }
        return try router(parsing: Array(data), file: path, environment: environment)
    }

    /// The router for configuration text; `file` names it in errors.
    public static func router(parsing bytes: [UInt8], file: String, environment: [String: String]) throws -> ProviderRouter {
        let configured = try providers(parsing: bytes, file: file, environment: environment)
        let defaults = ProviderRouter.defaultProviders(environment).filter { d in !configured.contains { $0.name == d.name } }
        return ProviderRouter(providers: configured + defaults)
    }

    /// The providers the configuration text declares, in order.
    public static func providers(parsing bytes: [UInt8], file: String, environment: [String: String]) throws -> [Provider] {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch let e as JSONParseError {
            let (line, column) = JSONLocator.position(ofOffset: e.offset, in: bytes)
            throw ConfigurationError(file: file, line: line, column: column, message: "invalid JSON: \(e.reason)")
        }
        let reader = ConfigurationReader(file: file, locator: JSONLocator(bytes))
        if let duplicate = reader.locator.duplicateKeys.first {
            throw reader.error(duplicate.path, "appears twice; keep one", offset: duplicate.offset)
        }
        let root = try reader.object(json, at: "")
        try reader.checkKeys(root, allowed: ["providers", "prices", "cache"], at: "")  // prices, cache: `PriceTable.configured`, `CacheOptions.configured` (ChoreoBatch)
        guard let list = root["providers"] else {
            if root["prices"] != nil || root["cache"] != nil { return [] }  // a file of prices or cache settings only
            throw reader.error("providers", "missing (a list of provider objects)")
        }
        guard case .array(let items) = list else { throw reader.typeError("providers", expected: "an array", found: list) }
        let defaults = ProviderRouter.defaultProviders(environment)
        var providers: [Provider] = []
        for (n, item) in items.enumerated() {
            let provider = try reader.provider(item, at: "providers[\(n)]", defaults: defaults, environment: environment)
            if providers.contains(where: { $0.name == provider.name }) {
                throw reader.error("providers[\(n)].name", "\(JSONValue.quoted(provider.name)) is already the name of another provider")
            }
            providers.append(provider)
        }
        return providers
    }
}

/// A configuration file that cannot be used: which file, where, which key and what is wrong.
/// `choreo.json:7: providers[1].base_url: expected a string, found number`.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// Set for syntax errors.
    public var column: Int?
    /// `providers[1].base_url`; nil for errors about the whole file.
    public var keyPath: String?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        s += ": "
        if let keyPath, !keyPath.isEmpty { s += keyPath + ": " }
        return s + message
    }
}

/// Typed reads from the parsed file, each failing with the key path and line.
struct ConfigurationReader {
    let file: String
    let locator: JSONLocator

    static let providerKeys = ["name", "kind", "base_url", "api_key_env", "models", "concurrency", "model_concurrency", "rpm", "tpm", "prefill",
                               "headers", "connect_timeout", "stall_timeout", "first_byte_timeout", "timeout", "ca_file"]
    /// Headers that carry credentials; they would put a key in the file.
    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key"]

    func error(_ path: String, _ message: String, offset: Int? = nil) -> ConfigurationError {
        let line = offset.map { locator.position(ofOffset: $0).line } ?? locator.position(of: path).line
        return ConfigurationError(file: file, line: line, keyPath: path, message: message)
    }

    func typeError(_ path: String, expected: String, found: JSONValue) -> ConfigurationError {
        error(path, "expected \(expected), found \(found.typeName)")
    }

    func object(_ value: JSONValue, at path: String) throws -> [String: JSONValue] {
        guard case .object(let o) = value else { throw typeError(path.isEmpty ? "(top level)" : path, expected: "an object", found: value) }
        return o
    }

    func checkKeys(_ o: [String: JSONValue], allowed: [String], at path: String) throws {
        for key in o.keys.sorted() where !allowed.contains(key) {
            let keyPath = JSONLocator.path(path, key: key)
            if key == "api_key" {
                throw error(keyPath, "keys do not belong in the file; put the key in an environment variable and name it in api_key_env")
            }
            let hint = Spelling.nearest(to: key, among: allowed, maxDistance: 2).map { " (did you mean \($0)?)" } ?? ""
            throw error(keyPath, "unknown key\(hint); allowed: \(allowed.joined(separator: ", "))")
        }
    }

    func string(_ o: [String: JSONValue], _ key: String, at path: String) throws -> String? {
        guard let v = o[key] else { return nil }
        guard case .string(let s) = v else { throw typeError(JSONLocator.path(path, key: key), expected: "a string", found: v) }
        guard !s.isEmpty else { throw error(JSONLocator.path(path, key: key), "must not be empty") }
        return s
    }

    func positiveInt(_ o: [String: JSONValue], _ key: String, at path: String) throws -> Int? {
        guard let v = o[key] else { return nil }
        guard let n = v.intValue, n > 0 else {
            throw v.doubleValue == nil ? typeError(JSONLocator.path(path, key: key), expected: "a positive integer", found: v)
                : error(JSONLocator.path(path, key: key), "expected a positive integer, found \(v.jsonString)")
        }
        return n
    }

    func seconds(_ o: [String: JSONValue], _ key: String, at path: String) throws -> Double? {
        guard let v = o[key] else { return nil }
        guard let d = v.doubleValue else { throw typeError(JSONLocator.path(path, key: key), expected: "a number of seconds", found: v) }
        guard d > 0 else { throw error(JSONLocator.path(path, key: key), "expected a positive number of seconds, found \(v.jsonString)") }
        return d
    }

    func provider(_ value: JSONValue, at path: String, defaults: [Provider], environment: [String: String]) throws -> Provider {
        let o = try object(value, at: path)
        try checkKeys(o, allowed: Self.providerKeys, at: path)
        guard let name = try string(o, "name", at: path) else { throw error(JSONLocator.path(path, key: "name"), "missing") }
        let kinds = ProviderKind.allCases.map { JSONValue.quoted($0.rawValue) }.joined(separator: ", ")
        guard let kindName = try string(o, "kind", at: path) else {
            throw error(JSONLocator.path(path, key: "kind"), "missing (one of \(kinds))")
        }
        guard let kind = ProviderKind(rawValue: kindName) else {
            throw error(JSONLocator.path(path, key: "kind"), "expected one of \(kinds), found \(JSONValue.quoted(kindName))")
        }
        let baseURL = try string(o, "base_url", at: path)
        if let baseURL, !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            throw error(JSONLocator.path(path, key: "base_url"), "expected an http:// or https:// URL, found \(JSONValue.quoted(baseURL))")
        }
        let keyVariable = try string(o, "api_key_env", at: path)

        // Without a base_url the provider is the kind's official endpoint: start from its default
        // (URL, key variable, organisation headers); with one, start from nothing.
        var p: Provider
        if baseURL == nil, let d = defaults.first(where: { $0.kind == kind }) {
            p = d
            p.name = name
            p.supportsPrefill = kind == .anthropic
        } else {
            p = Provider(name: name, kind: kind, baseURL: baseURL ?? "")
        }
        if let keyVariable {
            p.apiKeyVariable = keyVariable
            p.apiKey = environment[keyVariable].flatMap { $0.isEmpty ? nil : $0 }
        }

        let modelsPath = JSONLocator.path(path, key: "models")
        guard let models = o["models"] else { throw error(modelsPath, "missing (model-name patterns such as \"llama-*\")") }
        guard case .array(let patterns) = models, !patterns.isEmpty else {
            throw models.arrayValue == nil ? typeError(modelsPath, expected: "an array of strings", found: models)
                : error(modelsPath, "must list at least one model-name pattern")
        }
        p.modelPatterns = try patterns.enumerated().map { k, v in
            guard case .string(let s) = v, !s.isEmpty else {
                throw typeError(JSONLocator.path(modelsPath, index: k), expected: "a non-empty string", found: v)
            }
            return s
        }

        p.maxConcurrency = try positiveInt(o, "concurrency", at: path)
        if let v = o["model_concurrency"] {
            let capsPath = JSONLocator.path(path, key: "model_concurrency")
            for (pattern, value) in try object(v, at: capsPath) {
                guard let n = value.intValue, n > 0 else {
                    throw typeError(JSONLocator.path(capsPath, key: pattern), expected: "a positive integer", found: value)
                }
                p.modelConcurrency[pattern] = n
            }
        }
        p.requestsPerMinute = try positiveInt(o, "rpm", at: path)
        p.tokensPerMinute = try positiveInt(o, "tpm", at: path)
        if let v = o["prefill"] {
            let prefillPath = JSONLocator.path(path, key: "prefill")
            switch v {
            case .bool(let b): p.supportsPrefill = b
            case .object(let models):
                for (pattern, value) in models {
                    guard case .bool(let b) = value else {
                        throw typeError(JSONLocator.path(prefillPath, key: pattern), expected: "true or false", found: value)
                    }
                    p.prefillModels[pattern] = b
                }
            default:
                throw typeError(prefillPath, expected: "true or false, or an object of model patterns to true or false", found: v)
            }
        }
        if let v = o["headers"] {
            let headersPath = JSONLocator.path(path, key: "headers")
            for (header, value) in try object(v, at: headersPath).sorted(by: { $0.key < $1.key }) {
                let headerPath = JSONLocator.path(headersPath, key: header)
                if Self.credentialHeaders.contains(header.lowercased()) {
                    throw error(headerPath, "credentials do not belong in the file; put the key in an environment variable and name it in api_key_env")
                }
                guard case .string(let s) = value else { throw typeError(headerPath, expected: "a string", found: value) }
                p.extraHeaders.add(name: header, value: s)
            }
        }
        if let t = try seconds(o, "connect_timeout", at: path) { p.connectTimeout = t }
        if let t = try seconds(o, "stall_timeout", at: path) { p.stallTimeout = t }
        p.firstByteTimeout = try seconds(o, "first_byte_timeout", at: path)
        p.timeout = try seconds(o, "timeout", at: path)
        if let caFile = try string(o, "ca_file", at: path) {
            let resolved = caFile.hasPrefix("/") ? caFile : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(caFile).path
            if let problem = CAFile.problem(at: resolved) {
                throw error(JSONLocator.path(path, key: "ca_file"), "\(resolved): \(problem)")
            }
            p.caFile = resolved
        }
        return p
    }
}
