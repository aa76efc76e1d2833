public import ChoreoAI
import Foundation

/// What a model costs, in US dollars per million tokens, and where that figure came from.
public struct Price: Sendable, Hashable {
    public var input: Double
    /// Prompt tokens read from the provider's prompt cache (nil: billed as input).
    public var cachedInput: Double?
    /// Prompt tokens written to the prompt cache (nil: billed as input). Anthropic's 5-minute rate.
    public var cacheWrite: Double?
    public var output: Double
    /// Where the figure comes from and when it was checked (`choreo.json` for configured ones).
    public var source: String

    public init(input: Double, cachedInput: Double? = nil, cacheWrite: Double? = nil, output: Double, source: String) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
        self.source = source
    }

    /// The cost of `usage` in USD. Cached and cache-write tokens are parts of the prompt
    /// (`Usage`), each at its own rate; reasoning tokens are part of the output, at the output rate.
    public func cost(_ usage: CompletionUsage) -> Double {
        let cached = min(usage.cachedPromptTokens, usage.promptTokens)
        let written = min(usage.cacheWriteTokens, usage.promptTokens - cached)
        let plain = usage.promptTokens - cached - written
        let perToken = Double(plain) * input + Double(cached) * (cachedInput ?? input)
            + Double(written) * (cacheWrite ?? input) + Double(usage.completionTokens) * output
        return perToken / 1_000_000
    }

    /// The most a request of at most `promptTokens` prompt and `completionTokens` output tokens
    /// can cost: every prompt token at the dearest prompt rate (a cache write costs more than input).
    public func worstCase(promptTokens: Int, completionTokens: Int) -> Double {
        let promptRate = max(input, cachedInput ?? input, cacheWrite ?? input)
        return (Double(promptTokens) * promptRate + Double(completionTokens) * output) / 1_000_000
    }
}

/// Prices by model name: `choreo.json`'s `prices` first, then the built-in table. A model that
/// matches neither has no price: its cost is unknown, never guessed.
///
/// Keys are model names or globs (`*` any run of characters, `?` one). An exact name wins over a
/// glob; among globs, the one with the most literal characters wins (`gpt-4o-mini*` over `gpt-4o*`).
public struct PriceTable: Sendable {
    public private(set) var entries: [(pattern: String, price: Price)]

    public init(entries: [(pattern: String, price: Price)]) { self.entries = entries }

    /// The built-in table, extended and overridden by `configured` (from `choreo.json`).
    public static func builtIn(overriddenBy configured: [(pattern: String, price: Price)] = []) -> PriceTable {
        PriceTable(entries: configured + BuiltInPrices.entries)
    }

    /// The price of `model`, or nil when no entry matches.
    public func price(for model: String) -> Price? {
        if let exact = entries.first(where: { $0.pattern == model }) { return exact.price }
        var best: (literal: Int, price: Price)?
        for e in entries where e.pattern.contains(where: { $0 == "*" || $0 == "?" }) && Self.matches(e.pattern, model) {
            let literal = e.pattern.filter { $0 != "*" && $0 != "?" }.count
            if best == nil || literal > best!.literal { best = (literal, e.price) }
        }
        return best?.price
    }

    /// The cost of `usage` for `model`, or nil when its price is unknown.
    public func cost(model: String, usage: CompletionUsage) -> Double? { price(for: model)?.cost(usage) }

    /// Glob match on characters: `*` any run, `?` any one.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) { pi += 1; ti += 1 }
            else if pi < p.count && p[pi] == "*" { star = pi; mark = ti; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
            else { return false }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// The `prices` object of a configuration file, or no entries when it has none:
    /// `{"prices": {"my-model-*": {"input": 0.5, "cached_input": 0.05, "cache_write": 0.6, "output": 1.5}}}`,
    /// USD per million tokens; `input` and `output` required.
    public static func configured(fileAt path: String) throws -> [(pattern: String, price: Price)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try configured(parsing: Array(data), file: path)
    }

    static let priceKeys = ["input", "cached_input", "cache_write", "output"]

    public static func configured(parsing bytes: [UInt8], file: String) throws -> [(pattern: String, price: Price)] {
        // The file's syntax and its providers are checked by `ProviderConfiguration`; here only `prices`.
        guard let root = try? JSONValue.parse(bytes), let prices = root["prices"] else { return [] }
        func fail(_ path: String, _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: JSONLocator(bytes).position(of: path).line, keyPath: path, message: message)
        }
        guard case .object(let models) = prices else { throw fail("prices", "expected an object of model name or glob → price") }
        var out: [(pattern: String, price: Price)] = []
        for (pattern, value) in models.sorted(by: { $0.key < $1.key }) {
            let path = JSONLocator.path("prices", key: pattern)
            guard !pattern.isEmpty else { throw fail(path, "a model name or glob must not be empty") }
            guard case .object(let o) = value else { throw fail(path, "expected an object with input and output prices (USD per million tokens)") }
            if let unknown = o.keys.sorted().first(where: { !priceKeys.contains($0) }) {
                throw fail(JSONLocator.path(path, key: unknown), "unknown key; allowed: \(priceKeys.joined(separator: ", "))")
            }
            func number(_ key: String, required: Bool) throws -> Double? {
                guard let v = o[key] else {
                    if required { throw fail(path, "\(key) is missing (USD per million tokens)") }
                    return nil
                }
                guard let d = v.doubleValue, d >= 0, d.isFinite else {
                    throw fail(JSONLocator.path(path, key: key), "expected a price ≥ 0 in USD per million tokens")
                }
                return d
            }
            out.append((pattern, Price(input: try number("input", required: true)!, cachedInput: try number("cached_input", required: false),
                                       cacheWrite: try number("cache_write", required: false),
                                       output: try number("output", required: true)!, source: "\(file) (prices)")))
        }
        return out
    }
}
