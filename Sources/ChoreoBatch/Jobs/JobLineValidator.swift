public import ChoreoAI
import ChoreoLocking

/// A job line that passed validation: what the store needs to insert it.
public struct ValidatedJob: Sendable {
    public var line: Int
    public var customID: String
    public var model: String
    /// The endpoint the line asks for (its `url`; a short-form line is a chat completion).
    public var endpoint: JobEndpoint = .chatCompletions
    /// The request body as JSON text, without `stream` / `stream_options` (the runner
    /// sets those): the body's bytes as submitted when they can be kept as they are, else the
    /// body printed again.
    public var requestText: String
    /// The job's `metadata` object as JSON text (the line's top-level `metadata`, else the body's).
    public var metadata: String?
    /// The line's own `priority` (nil: the batch's, `SubmitOptions.priority`).
    public var priority: Int?
    /// The line's own `timeout` in seconds (nil: its provider's).
    public var timeout: Double?
}

/// Checks job lines one at a time. (Duplicate custom ids across the file are found by the
/// database's UNIQUE (batch_id, custom_id) index as lines are inserted: see `BatchSubmitter`.)
///
/// Two line shapes are accepted:
/// - OpenAI Batch: `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {…}}`
///   (`method` and `url` may be omitted; when present they must be these values), or with
///   `"url": "/v1/embeddings"` and an embeddings body (`{"model", "input": string | [string],
///   "dimensions"?, "encoding_format"?}`), for a model whose provider has an embeddings endpoint,
///   or with `"url": "/v1/responses"` and a Responses body (`{"model", "input", "instructions"?,
///   "max_output_tokens"?, "tools"?, …}`), for a model whose provider has the Responses API;
/// - short form: `{"custom_id", "model", "messages", …}` with the other body fields at the top level.
/// A line without `custom_id` gets `line-<N>`.
///
/// A batch line may also carry Choreo's own settings for its job, beside `custom_id` and `body`:
/// `priority` (an integer in `priorityRange`; higher is claimed first) and `timeout` (seconds in
/// `timeoutRange`, each attempt's whole time). The short form has no place for them: its top-level
/// fields are request parameters, and `priority` is one on some servers (vLLM's, where lower runs
/// first), so there a `priority` or `timeout` is an unknown parameter whose error says where
/// Choreo's goes; `--allow-unknown-params` sends it to the provider, as in a batch line's `body`.
///
/// What is stored is what was checked: a key repeated anywhere in a line is rejected (another
/// reader could pick the other copy), and so is a number no `Double` holds (`1e999`).
public struct JobLineValidator: Sendable {
    /// Characters a model name may use (README, "Job files"): the names providers give (`gpt-4o`,
    /// `ft:gpt-4o-mini:org::id`, `meta-llama/Llama-3-8B`, `@cf/meta/llama-3`) and nothing that
    /// means something in a URL (`?`, `&`, `#`, `%`, spaces). A model reaches a request's path.
    public static let modelNameCharacters = "A-Z a-z 0-9 . _ - : / @ +"
    public static let maxModelNameLength = 256
    /// Routes model names to providers, so each body parameter is checked against the wire format
    /// that will send it (`ParameterSupport`). The default routes as an empty environment does.
    public let router: ProviderRouter
    /// Let body parameters no provider table knows through (`--allow-unknown-params`); parameters
    /// a provider cannot honour are refused all the same.
    public var allowUnknownParams: Bool

    /// Each model's route, found once (see `route`). Shared by copies of the validator.
    private let routes = RouteMemo()

    public init(router: ProviderRouter = .fromEnvironment([:]), allowUnknownParams: Bool = false) {
        self.router = router
        self.allowUnknownParams = allowUnknownParams
    }

    /// Fields of a batch line around its body.
    static let batchLineFields = ["custom_id", "method", "url", "body", "metadata", "priority", "timeout"]
    /// A job's `priority` (and `submit --priority`): higher is claimed first, 0 by default.
    public static let priorityRange = -1_000_000...1_000_000
    /// A job's `timeout` in seconds: more than 0, at most a day.
    public static let maxTimeout = 86_400.0
    /// Message roles the chat formats know.
    static let roles = ["system", "developer", "user", "assistant", "tool", "function"]

    /// Why `model` is not an acceptable model name, or nil when it is.
    public static func modelNameProblem(_ model: String) -> String? {
        if model.isEmpty { return "model must not be empty" }
        if model.utf8.count > maxModelNameLength { return "model is longer than \(maxModelNameLength) bytes" }
        if let bad = model.unicodeScalars.first(where: { !isModelNameScalar($0) }) {
            let shown = bad.isASCII && bad.value >= 0x20 && bad.value < 0x7F ? "\"\(Character(bad))\"" : "U+" + String(bad.value, radix: 16, uppercase: true)
            return "model may only use \(modelNameCharacters); found \(shown) in \(JSONValue.quoted(model))"
        }
        return nil
    }

    private static func isModelNameScalar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-", ":", "/", "@", "+": return true
        default: return false
        }
    }

    /// Validates one line: the common chat lines by a scan of their bytes (`validatedByScan`),
    /// the rest, and every line the scan is not sure about, by the full validator.
    public func validate(line: Int, bytes: [UInt8]) -> Result<ValidatedJob, JobLineError> {
        if let job = validatedByScan(line: line, bytes: bytes) { return .success(job) }
        return validateFully(line: line, bytes: bytes)
    }

    /// Validates one line by parsing it whole: what the scan must agree with, and what says why
    /// a line is refused.
    func validateFully(line: Int, bytes: [UInt8]) -> Result<ValidatedJob, JobLineError> {
        do {
            return .success(try check(line: line, bytes: bytes))
        } catch let error as JobLineError {
            return .failure(error)
        } catch {
            return .failure(JobLineError(line: line, field: nil, code: "invalid_json_line", message: "\(error)"))
        }
    }

    private func check(line: Int, bytes: [UInt8]) throws -> ValidatedJob {
        func fail(_ field: String?, _ code: String, _ message: String) -> JobLineError {
            JobLineError(line: line, field: field, code: code, message: message)
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, rejectingDuplicateKeys: true)
        } catch let error as JSONParseError {
            if error.isDuplicateKey, let path = Self.pathOfDuplicateKey(at: error.offset, in: bytes) {
                throw fail(path, "duplicate_key", "the key appears more than once (again at byte \(error.offset)); a line must say one thing")
            }
            throw fail(nil, "invalid_json_line", "invalid JSON at byte \(error.offset): \(error.reason)")
        }
        guard case .object(let top) = value else {
            throw fail(nil, "invalid_type", "a job line must be a JSON object, found \(value.typeName)")
        }

        var customID = "line-\(line)"
        if let id = top["custom_id"] {
            guard let s = id.stringValue else { throw fail("custom_id", "invalid_type", "expected a string, found \(id.typeName)") }
            guard !s.isEmpty else { throw fail("custom_id", "invalid_value", "custom_id must not be empty") }
            customID = s
        }

        let isBatchForm = top["body"] != nil || top["method"] != nil || top["url"] != nil
        var priority: Int?
        var timeout: Double?
        var body: [String: JSONValue]
        let prefix: String
        var endpoint = JobEndpoint.chatCompletions
        if isBatchForm {
            if let method = top["method"] {
                guard method.stringValue == "POST" else {
                    throw fail("method", "invalid_value", "method must be \"POST\", found \(method.jsonString)")
                }
            }
            if let url = top["url"] {
                guard let known = url.stringValue.flatMap(JobEndpoint.init(rawValue:)) else {
                    let urls = JobEndpoint.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                    throw fail("url", "url_mismatch", "url must be \(urls) (the endpoints Choreo runs), found \(url.jsonString)")
                }
                endpoint = known
            }
            for key in top.keys.sorted() where !Self.batchLineFields.contains(key) {
                let hint = Spelling.hint(for: key, among: Self.batchLineFields)
                throw fail(key, "unknown_field", "unknown field of a batch line\(hint) (body parameters go inside \"body\")")
            }
            priority = try Self.priority(top["priority"], fail: fail)
            timeout = try Self.timeout(top["timeout"], fail: fail)
            guard let b = top["body"] else { throw fail("body", "missing_required_parameter", "a batch line needs a \"body\" object") }
            guard case .object(let o) = b else { throw fail("body", "invalid_type", "expected an object, found \(b.typeName)") }
            body = o
            prefix = "body."
        } else {
            body = top
            body["custom_id"] = nil
            prefix = ""
        }

        guard let modelValue = body["model"] else { throw fail(prefix + "model", "missing_required_parameter", "a request needs a \"model\"") }
        guard let model = modelValue.stringValue else { throw fail(prefix + "model", "invalid_type", "expected a string, found \(modelValue.typeName)") }
        if let problem = Self.modelNameProblem(model) { throw fail(prefix + "model", "invalid_value", problem) }

        switch endpoint {
        case .chatCompletions:
            try checkMessages(body["messages"], path: prefix + "messages", fail: fail)
            try checkKnownFields(body, prefix: prefix, fail: fail)
            let provider = try route(model, path: prefix + "model", fail: fail)
            try checkParameters(body, provider: provider, prefix: prefix, fail: fail)
        case .embeddings:
            try checkEmbeddings(body, model: model, prefix: prefix, fail: fail)
        case .responses:
            try checkResponses(body, model: model, prefix: prefix, fail: fail)
        }
        let metadataValue = isBatchForm ? top["metadata"] ?? body["metadata"] : body["metadata"]
        if let m = metadataValue, !m.isNull, m.objectValue == nil {
            throw fail(isBatchForm && top["metadata"] != nil ? "metadata" : prefix + "metadata", "invalid_type", "expected an object, found \(m.typeName)")
        }

        // The runner decides about streaming; a submitted "stream" is accepted and dropped.
        var requestText: String?
        if body["stream"] == nil, body["stream_options"] == nil {
            if isBatchForm, let range = JSONLocator.valueRange(ofMember: "body", in: bytes) {
                requestText = String(decoding: bytes[range], as: UTF8.self)
            }
        } else {
            body["stream"] = nil
            body["stream_options"] = nil
        }
        return ValidatedJob(line: line, customID: customID, model: model, endpoint: endpoint, requestText: requestText ?? JSONValue.object(body).jsonString,
                            metadata: metadataValue.flatMap { $0.isNull ? nil : $0.jsonString }, priority: priority, timeout: timeout)
    }

    /// A batch line's `priority`: an integer in `priorityRange`, or nil (absent or null).
    static func priority(_ value: JSONValue?, fail: (String?, String, String) -> JobLineError) throws -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let n = value.intValue else {
            if value.doubleValue != nil {
                throw fail("priority", "invalid_value", "priority must be a whole number, found \(value.jsonString)")
            }
            throw fail("priority", "invalid_type", "expected an integer, found \(value.typeName)")
        }
        guard priorityRange.contains(n) else {
            throw fail("priority", "invalid_value",
                       "priority must be from \(priorityRange.lowerBound) to \(priorityRange.upperBound), found \(value.jsonString)")
        }
        return n
    }

    /// A batch line's `timeout`: seconds, more than 0 and at most `maxTimeout`, or nil (absent or null).
    static func timeout(_ value: JSONValue?, fail: (String?, String, String) -> JobLineError) throws -> Double? {
        guard let value, !value.isNull else { return nil }
        guard let seconds = value.doubleValue else { throw fail("timeout", "invalid_type", "expected a number of seconds, found \(value.typeName)") }
        guard seconds > 0 && seconds <= maxTimeout else {
            throw fail("timeout", "invalid_value", "timeout must be more than 0 and at most \(Int(maxTimeout)) seconds (a day), found \(value.jsonString)")
        }
        return seconds
    }

    /// The provider `model` routes to. A name that only the catch-all route takes but that is a
    /// typo of a configured prefix (`gemni-2.0-flash` for `gemini-*`) is refused: it would go to
    /// the wrong provider.
    ///
    /// A file names few models: each is routed once (`routes`), not once per line (the typo check
    /// measured at 10% of a million-line submit).
    func route(_ model: String, path: String, fail: (String?, String, String) -> JobLineError) throws -> Provider? {
        let routed = routes[model] ?? {
            let r = Self.route(model, router: router)
            routes[model] = r
            return r
        }()
        switch routed {
        case .provider(let provider): return provider
        case .typo(let message): throw fail(path, "unknown_model", message)
        }
    }

    private static func route(_ model: String, router: ProviderRouter) -> ModelRoute {
        let specific = router.providers.flatMap { p in p.modelPatterns.filter { $0 != "*" }.map { (p, $0) } }
        if specific.contains(where: { Provider.matches(pattern: $0.1, model: model) }) { return .provider(router.provider(for: model)) }
        for (p, pattern) in specific where pattern.hasSuffix("*") && pattern.count >= 7 {
            let prefix = String(pattern.dropLast())
            for length in max(1, prefix.count - 1)...(prefix.count + 1) where length <= model.count {
                let head = String(model.prefix(length))
                let d = Spelling.distance(head, prefix)
                guard d > 0, d <= 2, head.last == prefix.last else { continue }
                let fallback = router.provider(for: model).map { "it would go to \($0.name)" } ?? "no provider takes it"
                return .typo("\(JSONValue.quoted(model)) matches no configured route (\(fallback)); "
                    + "did you mean \(prefix + model.dropFirst(length)) (\(p.name))?")
            }
        }
        return .provider(router.provider(for: model))
    }

    /// Choreo's per-job settings, which a request body cannot carry, and where else they are set
    /// (for the error that says where they go).
    static let jobSettingPlaces = [
        "priority": "or for the whole file with submit --priority",
        "timeout": "or for every job with a provider's \"timeout\" in choreo.json or run --timeout",
    ]

    /// Every body parameter must be one the routed provider takes (`ParameterSupport`): unknown
    /// ones are refused with the nearest known name, ones it cannot honour with the reason.
    func checkParameters(_ body: [String: JSONValue], provider: Provider?, prefix: String, endpoint: JobEndpoint = .chatCompletions,
                                 fail: (String?, String, String) -> JobLineError) throws {
        if let extra = body["extra_body"], extra.objectValue == nil {
            throw fail(prefix + "extra_body", "invalid_type", "expected an object, found \(extra.typeName)")
        }
        for key in body.keys.sorted() {
            try checkParameter(key, body[key]!, provider: provider, prefix: prefix, endpoint: endpoint, fail: fail)
        }
    }

    /// One body parameter of `checkParameters` (all but its `extra_body` type check).
    func checkParameter(_ key: String, _ value: JSONValue, provider: Provider?, prefix: String, endpoint: JobEndpoint = .chatCompletions,
                        fail: (String?, String, String) -> JobLineError) throws {
        let kind = provider?.kind ?? .openAI
        let handling: (String, JSONValue, ProviderKind) -> ParameterSupport.Handling?
        let known: (ProviderKind) -> [String]
        let what: String
        switch endpoint {
        case .chatCompletions: (handling, known, what) = (ParameterSupport.handling, ParameterSupport.knownParameters, "parameter")
        case .embeddings:
            (handling, known, what) = (ParameterSupport.embeddingsHandling, ParameterSupport.knownEmbeddingsParameters, "embeddings parameter")
        case .responses:
            (handling, known, what) = (ParameterSupport.responsesHandling, ParameterSupport.knownResponsesParameters, "Responses parameter")
        }
        switch handling(key, value, kind) {
        case .passed?, .mapped?: return
        case .rejected(let reason)?:
            throw fail(prefix + key, "unsupported_parameter", "\(provider?.name ?? kind.rawValue) cannot take \(key): \(reason)")
        case nil:
            if allowUnknownParams { return }
            if let place = Self.jobSettingPlaces[key] {
                throw fail(prefix + key, "unknown_parameter",
                           "unknown \(what) (for \(provider?.name ?? kind.rawValue)); Choreo's own \(key) is not a request parameter: "
                           + "it goes at the top level of an OpenAI Batch line, next to custom_id and body, \(place); "
                           + "a server's own \(key) parameter goes in extra_body")
            }
            let hint = Spelling.hint(for: key, among: known(kind))
            throw fail(prefix + key, "unknown_parameter",
                       "unknown \(what)\(hint) (for \(provider?.name ?? kind.rawValue); pass new ones in extra_body or submit with --allow-unknown-params)")
        }
    }

    /// An embeddings body (`url: "/v1/embeddings"`): a model whose provider has an embeddings
    /// endpoint, an `input` it takes in one request (a non-empty string, or 1 to the provider's
    /// limit of them: 2,048 for OpenAI, 100 for Gemini), well-typed `dimensions`,
    /// `encoding_format` and `user`, and no parameter its provider does not know.
    private func checkEmbeddings(_ body: [String: JSONValue], model: String, prefix: String,
                                 fail: (String?, String, String) -> JobLineError) throws {
        let provider = try route(model, path: prefix + "model", fail: fail)
        let kind = provider?.kind ?? .openAI
        guard let wire = kind.embeddingsWire else {
            throw fail(prefix + "model", "unsupported_endpoint",
                       "\(JSONValue.quoted(model)) routes to \(provider?.name ?? kind.rawValue), which has no embeddings endpoint; "
                       + "use an OpenAI-compatible or Gemini embedding model")
        }
        let path = prefix + "input"
        switch body["input"] {
        case nil:
            throw fail(path, "missing_required_parameter", "an embeddings request needs \"input\" (a string or an array of strings)")
        case .string(let s)?:
            guard !s.isEmpty else { throw fail(path, "invalid_value", "input must not be an empty string") }
        case .array(let items)?:
            guard !items.isEmpty else { throw fail(path, "invalid_value", "input must not be an empty array") }
            guard items.count <= wire.maxInputsPerRequest else {
                throw fail(path, "invalid_value", "\(provider?.name ?? kind.rawValue) takes at most \(wire.maxInputsPerRequest) inputs per request, "
                           + "found \(items.count); split the line")
            }
            for (i, item) in items.enumerated() {
                guard let s = item.stringValue else {
                    throw fail("\(path)[\(i)]", "invalid_type", "expected a string, found \(item.typeName) (Choreo embeds text, not token ids)")
                }
                guard !s.isEmpty else { throw fail("\(path)[\(i)]", "invalid_value", "an input must not be an empty string") }
            }
        case let other?:
            throw fail(path, "invalid_type", "expected a string or an array of strings, found \(other.typeName)")
        }
        for key in body.keys.sorted() {
            let v = body[key]!
            if v.isNull { continue }
            switch key {
            case "dimensions":
                guard let n = v.intValue else { throw fail(prefix + key, "invalid_type", "expected an integer, found \(v.typeName)") }
                guard n >= 1 else { throw fail(prefix + key, "invalid_value", "dimensions must be a positive integer, found \(n)") }
            case "encoding_format":
                guard let f = v.stringValue else { throw fail(prefix + key, "invalid_type", "expected a string, found \(v.typeName)") }
                guard f == "float" || f == "base64" else {
                    throw fail(prefix + key, "invalid_value", "encoding_format must be \"float\" or \"base64\", found \(v.jsonString)")
                }
            case "user":
                guard v.stringValue != nil else { throw fail(prefix + key, "invalid_type", "expected a string, found \(v.typeName)") }
            default:
                break
            }
        }
        try checkParameters(body, provider: provider, prefix: prefix, endpoint: .embeddings, fail: fail)
    }

    /// The path of the repeated key that starts at `offset`. Only a line refused for it pays for
    /// the locator, which reads only the well-formed text up to the end of that key.
    static func pathOfDuplicateKey(at offset: Int, in bytes: [UInt8]) -> String? {
        var end = offset + 1
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
        return JSONLocator(Array(bytes[..<min(end + 1, bytes.count)])).duplicateKeys.first?.path
    }

    private func checkMessages(_ value: JSONValue?, path: String, fail: (String?, String, String) -> JobLineError) throws {
        guard let value else { throw fail(path, "missing_required_parameter", "a request needs \"messages\"") }
        guard case .array(let messages) = value else { throw fail(path, "invalid_type", "expected an array, found \(value.typeName)") }
        guard !messages.isEmpty else { throw fail(path, "invalid_value", "messages must not be empty") }
        for (i, message) in messages.enumerated() {
            let here = "\(path)[\(i)]"
            guard case .object(let m) = message else { throw fail(here, "invalid_type", "expected an object, found \(message.typeName)") }
            guard let role = m["role"] else { throw fail(here + ".role", "missing_required_parameter", "a message needs a \"role\"") }
            guard let roleName = role.stringValue else { throw fail(here + ".role", "invalid_type", "expected a string, found \(role.typeName)") }
            guard Self.roles.contains(roleName) else {
                let hint = Spelling.hint(for: roleName, among: Self.roles)
                throw fail(here + ".role", "invalid_value", "unknown role \(JSONValue.quoted(roleName))\(hint)")
            }
            switch m["content"] {
            case .string?, .array?, .null?: break
            case nil where roleName == "assistant": break  // an assistant turn that only called tools
            case nil: throw fail(here + ".content", "missing_required_parameter", "a \(roleName) message needs \"content\"")
            case let other?: throw fail(here + ".content", "invalid_type", "expected a string, an array of parts or null, found \(other.typeName)")
            }
        }
    }

    /// Types of the well-known body fields, so a typo fails at submit rather than at run time.
    /// One pass over the body's keys (cheaper than a hash lookup per known field); when something
    /// is wrong, the keys are walked again in sorted order so the same field is always reported.
    func checkKnownFields(_ body: [String: JSONValue], prefix: String, fail: (String?, String, String) -> JobLineError) throws {
        guard body.contains(where: { problem($0.key, $0.value, prefix, fail) != nil }) else { return }
        for key in body.keys.sorted() { if let error = problem(key, body[key]!, prefix, fail) { throw error } }
    }

    func problem(_ key: String, _ v: JSONValue, _ prefix: String, _ fail: (String?, String, String) -> JobLineError) -> JobLineError? {
        if v.isNull { return nil }
        switch key {
        case "max_tokens", "max_completion_tokens", "n":
            guard let n = v.intValue else { return fail(prefix + key, "invalid_type", "expected an integer, found \(v.typeName)") }
            return n > 0 ? nil : fail(prefix + key, "invalid_value", "\(key) must be a positive integer, found \(n)")
        case "temperature", "top_p", "presence_penalty", "frequency_penalty":
            return v.doubleValue != nil ? nil : fail(prefix + key, "invalid_type", "expected a number, found \(v.typeName)")
        case "seed":
            return v.intValue != nil ? nil : fail(prefix + key, "invalid_type", "expected an integer, found \(v.typeName)")
        case "stop":
            switch v {
            case .string: return nil
            case .array(let a) where a.allSatisfy({ $0.stringValue != nil }): return nil
            default: return fail(prefix + key, "invalid_type", "expected a string or an array of strings, found \(v.typeName)")
            }
        case "tools":
            return v.arrayValue != nil ? nil : fail(prefix + key, "invalid_type", "expected an array, found \(v.typeName)")
        case "stream":
            return v.boolValue != nil ? nil : fail(prefix + key, "invalid_type", "expected a boolean, found \(v.typeName)")
        default:
            return nil
        }
    }
}

/// Where a model goes, or why it looks like a typo.
private enum ModelRoute: Sendable {
    case provider(Provider?)
    case typo(String)
}

/// The routes a validator found, by model name: a class, so copies of the (value type)
/// validator share it, and a lock, since submit may validate lines on several threads.
private final class RouteMemo: Sendable {
    private let table = Locked<[String: ModelRoute]>([:])

    subscript(model: String) -> ModelRoute? {
        get { table.withLock { $0[model] } }
        set { table.withLock { $0[model] = newValue } }
    }
}
