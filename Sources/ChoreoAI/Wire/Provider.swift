import ChoreoHTTP
import Foundation

/// The wire format a provider speaks.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    case openAI = "openai"
    case anthropic
    case gemini

    public var wireFormat: any WireFormat {
        switch self {
        case .openAI: return OpenAIWire()
        case .anthropic: return AnthropicWire()
        case .gemini: return GeminiWire()
        }
    }

    /// The provider's Responses API (`/v1/responses`); nil when it has none (Anthropic, Gemini).
    public var responsesWire: (any WireFormat)? { self == .openAI ? OpenAIResponsesWire() : nil }
}

/// An endpoint that serves chat completions: where it is, how to authenticate, its limits.
/// The key is read from the environment when the provider is built and is never printed:
/// `description` and every error show the provider's name and origin only.
public struct Provider: Sendable, CustomStringConvertible {
    public var name: String
    public var kind: ProviderKind
    /// Per each SDK's convention: OpenAI's includes `/v1`, Anthropic's does not, Gemini's includes `/v1beta`.
    public var baseURL: String
    /// The name of the environment variable holding the key (shown in errors instead of the key).
    public var apiKeyVariable: String?
    public var apiKey: String?
    public var extraHeaders: HeaderFields
    /// Model name patterns this provider serves (`claude-*`); used by `ProviderRouter`.
    public var modelPatterns: [String]
    /// Whether an interrupted stream may be continued by sending its partial text as a prefill.
    public var supportsPrefill: Bool
    /// Per model pattern, whether prefill is allowed (`choreo.json` `"prefill": {"pattern": bool}`):
    /// overrides the built-in rule and `supportsPrefill` (see `prefillSupport(model:)`).
    public var prefillModels: [String: Bool] = [:]
    /// Limits for the batch runner (nil: none).
    public var maxConcurrency: Int?
    /// Streams in flight at most per model pattern (`["gpt-4o*": 8]`): a cap inside the provider's.
    public var modelConcurrency: [String: Int] = [:]
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    public var connectTimeout: Double = 10
    public var stallTimeout: Double = 60
    /// Seconds the first byte of an answer may take (`choreo.json` `first_byte_timeout`): a model
    /// reasoning before it writes, a server's queue. nil: ten stall timeouts. See
    /// `HTTPRequest.firstByteTimeout`.
    public var firstByteTimeout: Double?
    /// Seconds one request may take in all, connecting and the whole stream, however steadily it
    /// progresses (`choreo.json` `timeout`); nil: no bound. It ends as `attempt_timeout`, kept
    /// text and all, like a stall (`RequestFailure`). A job's own `timeout` replaces it.
    public var timeout: Double?
    /// A PEM file of certificate authorities that sign the provider's certificate (`choreo.json`
    /// `ca_file`, `--cacert`): a gateway or server behind a private CA. nil: the system's. See
    /// `HTTPRequest.caFile`; TLS verification is never turned off. Check it with `CAFile.problem(at:)`
    /// before the first request (`ProviderConfiguration` does for `ca_file`).
    public var caFile: String?
    /// The largest server-sent event accepted; a bigger one (data lines that never meet a blank
    /// line) ends the attempt as `protocol_error` instead of growing memory.
    public var maxEventBytes = SSEParser.defaultMaxEventSize

    public init(name: String, kind: ProviderKind, baseURL: String, apiKeyVariable: String? = nil, apiKey: String? = nil,
                extraHeaders: HeaderFields = HeaderFields(), modelPatterns: [String] = [], supportsPrefill: Bool? = nil,
                maxConcurrency: Int? = nil, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKeyVariable = apiKeyVariable
        self.apiKey = apiKey
        self.extraHeaders = extraHeaders
        self.modelPatterns = modelPatterns
        self.supportsPrefill = supportsPrefill ?? (kind == .anthropic)
        self.maxConcurrency = maxConcurrency
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    public var description: String { "\(name) (\(kind.rawValue), \(HTTPRequest.origin(of: baseURL)))" }

    /// The environment variable a request needs and does not have: the provider takes a key, none
    /// is set, and it is not a server on this machine (a local server does not check keys).
    public var missingKeyVariable: String? {
        guard apiKey == nil, let apiKeyVariable else { return nil }
        let origin = baseURL.lowercased()
        let isLocal = ["://127.0.0.1", "://localhost", "://[::1]"].contains { origin.contains($0) }
        return isLocal ? nil : apiKeyVariable
    }

    /// Whether `pattern` (with `*` wildcards) matches `model`.
    public static func matches(pattern: String, model: String) -> Bool {
        // Asked of a few patterns for every job: the common shapes without splitting the pattern.
        switch pattern.utf8.count(where: { $0 == UInt8(ascii: "*") }) {
        case 0: return pattern == model
        case 1 where pattern.utf8.last == UInt8(ascii: "*"): return model.hasPrefix(pattern.dropLast())
        default: break
        }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return pattern == model }
        var rest = Substring(model)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for (k, part) in parts.enumerated().dropFirst() {
            if k == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
            guard !part.isEmpty else { continue }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }
}

extension Provider {
    /// A POST of `body` to `path` under the provider's base URL, with the provider's timeouts and
    /// certificate authorities: every request to it, chat, Responses and embeddings alike, is
    /// made here, so none goes out without its `ca_file` (embeddings did until 2026-12-03).
    func post(path: String, headers: HeaderFields, body: JSONValue) -> HTTPRequest {
        HTTPRequest(url: baseURL + path, headers: headers, body: body.jsonBytes,
                    connectTimeout: connectTimeout, stallTimeout: stallTimeout, firstByteTimeout: firstByteTimeout,
                    timeout: timeout, caFile: caFile)
    }
}
