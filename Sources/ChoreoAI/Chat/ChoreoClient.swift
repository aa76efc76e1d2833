import ChoreoHTTP
import ChoreoLocking
public import Foundation

/// The client. Mirrors the SDK our users know:
///
/// ```swift
/// let client = ChoreoClient()   // OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_*, GEMINI_* from the environment
/// let stream = try await client.chat.completions.create(model: "gpt-4", messages: [.user("Hi")], stream: true)
/// for try await chunk in stream { print(chunk.choices[0].delta.content ?? "", terminator: "") }
/// ```
///
/// Models route to providers by name (`claude-*` → Anthropic, `gemini-*` → Gemini, others →
/// OpenAI-compatible); every provider's stream comes back as OpenAI-shaped chunks.
///
/// Not named after its module: a type called `ChoreoAI` would hide the module, and users could
/// no longer write `ChoreoAI.ChatMessage` beside a `ChatMessage` of their own.
public final class ChoreoClient: Sendable {
    public let router: ProviderRouter
    public let transport: CurlTransport
    /// This client's requests until their heads arrive, to stop them together (`stopRequests`).
    let pending = TransferGroup()
    public var chat: Chat { Chat(client: self) }

    /// Cancels every request of this client still waiting for its response head, and each one it
    /// sends until `resumeRequests`: they end with `CancellationError`. Streams already under way
    /// are their owners' to cancel. (A batch runner cut off from its database: `LeaseKeeper`.)
    public func stopRequests() { pending.stopAll() }

    /// Lets requests go out again after `stopRequests`.
    public func resumeRequests() { pending.resume() }

    /// A client for the default providers. `apiKey` and `baseURL`, when given, apply to the
    /// OpenAI-compatible provider, as in the OpenAI SDK.
    public init(apiKey: String? = nil, baseURL: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                transport: CurlTransport = .shared) {
        var router = ProviderRouter.fromEnvironment(environment)
        for i in router.providers.indices where router.providers[i].kind == .openAI {
            if let apiKey { router.providers[i].apiKey = apiKey }
            if let baseURL { router.providers[i].baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL }
        }
        self.router = router
        self.transport = transport
    }

    /// A client over explicitly configured providers.
    public init(router: ProviderRouter, transport: CurlTransport = .shared) {
        self.router = router
        self.transport = transport
    }

    public struct Chat: Sendable {
        let client: ChoreoClient
        public var completions: Completions { Completions(client: client) }
    }

    /// The provider for `model`, or an error that says how to configure one.
    public func provider(for model: String) throws -> Provider {
        guard let p = router.provider(for: model) else {
            throw WireError.invalidRequest("no provider serves model \"\(model)\"; add one to the configuration")
        }
        return p
    }

    /// Sends `body` (an OpenAI chat completions body) to `provider` and returns the stream once
    /// the response head has arrived. An HTTP error status throws `APIError` with the body decoded.
    ///
    /// `delivery: .collected` is for callers that want the result and its progress, not the
    /// chunks (the batch runner): the body is parsed on the transport's thread from its first
    /// byte, with no task wake-up per read. Such a stream yields no chunks when iterated; use
    /// `collect()`, and `text`, `completion` and `chunkCount` meanwhile.
    ///
    /// `wire` speaks another of the provider's APIs than its chat format (nil): a Responses body
    /// goes with `provider.kind.responsesWire`, and comes back as the same chunks.
    public func stream(body: JSONValue, provider: Provider, delivery: StreamDelivery = .chunks,
                       wire: (any WireFormat)? = nil) async throws -> ChatCompletionStream {
        let wire = wire ?? provider.kind.wireFormat
        let request = try wire.makeRequest(body, provider: provider, stream: true)
        switch delivery {
        case .chunks:
            let response = try await transport.execute(request, in: pending)
            try await Self.checkStatus(response, wire: wire, provider: provider)
            return ChatCompletionStream(response: response, wire: wire, provider: provider)
        case .collected:
            var state: StreamState?
            let response = try await transport.execute(request, in: pending) { transfer in
                let s = StreamState(source: .http(transfer), wire: wire, collecting: true, provider: provider)
                state = s
                return s
            }
            try await Self.checkStatus(response, wire: wire, provider: provider)
            return ChatCompletionStream(response: response, collecting: state!)
        }
    }

    /// `stream(body:provider:delivery: .collected, wire:)` with no task waiting for the head: the
    /// request goes out now, and `onHead` gets the stream when its head arrives, on the transport's
    /// thread (don't block it), or the error that came first (an HTTP error status: `APIError`,
    /// its body read first). Once. For a caller that sends many requests and takes their streams
    /// as they come (the batch runner): no task, and no task wake-up, a request.
    /// `stopRequests` cancels it until its head arrives; its stream's `cancel` after.
    public func send(body: JSONValue, provider: Provider, wire: (any WireFormat)? = nil,
                     onHead: @escaping @Sendable (Result<ChatCompletionStream, any Error>) -> Void) {
        let wire = wire ?? provider.kind.wireFormat
        let request: HTTPRequest
        do { request = try wire.makeRequest(body, provider: provider, stream: true) } catch { return onHead(.failure(error)) }
        let state = Locked<StreamState?>(nil)
        transport.send(request, in: pending, sendingSuccessTo: { transfer in
            let s = StreamState(source: .http(transfer), wire: wire, collecting: true, provider: provider)
            state.withLock { $0 = s }
            return s
        }) { head in
            switch head {
            case .failure(let error): onHead(.failure(error))
            case .success(let response) where (200..<300).contains(response.status):
                onHead(.success(ChatCompletionStream(response: response, collecting: state.withLock { $0 }!)))
            case .success(let response):
                // Its body is read on a task of its own: an error status is rare, and its body short.
                Task { onHead(.failure(await Self.statusError(response, wire: wire, provider: provider))) }
            }
        }
    }

    static func checkStatus(_ response: HTTPResponse, wire: any WireFormat, provider: Provider) async throws {
        guard !(200..<300).contains(response.status) else { return }
        throw await statusError(response, wire: wire, provider: provider)
    }

    /// The error a response of an error status stands for, its body read (the first 64 KiB).
    static func statusError(_ response: HTTPResponse, wire: any WireFormat, provider: Provider) async -> any Error {
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? []
        return wire.decodeError(status: response.status, headers: response.headers, body: body, provider: provider)
    }
}

/// How a stream's chunks reach its caller.
public enum StreamDelivery: Sendable {
    /// One by one, by iterating the stream.
    case chunks
    /// Not at all: only the accumulated result (`collect()`), parsed as the bytes arrive.
    case collected
}

/// `client.chat.completions`: `create(..., stream: true)` for a chunk stream, `create(...)` for a whole completion.
public struct Completions: Sendable {
    let client: ChoreoClient

    /// Streams a chat completion. With `stream: false` the request is made without streaming and
    /// the stream yields the whole answer as one chunk.
    public func create(
        model: String, messages: [ChatMessage], stream: Bool, temperature: Double? = nil, topP: Double? = nil,
        maxTokens: Int? = nil, maxCompletionTokens: Int? = nil, stop: [String]? = nil, seed: Int? = nil, tools: [ChatTool]? = nil,
        toolChoice: JSONValue? = nil, responseFormat: JSONValue? = nil, includeUsage: Bool = false, extra: [String: JSONValue] = [:]
    ) async throws -> ChatCompletionStream {
        let body = ChatRequest.body(
            model: model, messages: messages, temperature: temperature, topP: topP, maxTokens: maxTokens,
            maxCompletionTokens: maxCompletionTokens, stop: stop, seed: seed, tools: tools, toolChoice: toolChoice,
            responseFormat: responseFormat, includeUsage: includeUsage, extra: extra)
        if !stream {
            return ChatCompletionStream(completion: try await create(body: body))
        }
        return try await create(body: body, stream: true)
    }

    /// Returns the whole completion (no streaming).
    public func create(
        model: String, messages: [ChatMessage], temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil,
        maxCompletionTokens: Int? = nil, stop: [String]? = nil, seed: Int? = nil, tools: [ChatTool]? = nil,
        toolChoice: JSONValue? = nil, responseFormat: JSONValue? = nil, extra: [String: JSONValue] = [:]
    ) async throws -> ChatCompletion {
        try await create(body: ChatRequest.body(
            model: model, messages: messages, temperature: temperature, topP: topP, maxTokens: maxTokens,
            maxCompletionTokens: maxCompletionTokens, stop: stop, seed: seed, tools: tools, toolChoice: toolChoice,
            responseFormat: responseFormat, extra: extra))
    }

    /// Streams a raw OpenAI-shaped body (job files carry fields we do not model). With
    /// `stream: false` the request is made without streaming, as the typed `create` does.
    public func create(body: JSONValue, stream: Bool) async throws -> ChatCompletionStream {
        if !stream {
            return ChatCompletionStream(completion: try await create(body: body))
        }
        guard let model = body["model"]?.stringValue else { throw WireError.invalidRequest("the body has no \"model\"") }
        return try await client.stream(body: body, provider: try client.provider(for: model))
    }

    /// Sends a raw OpenAI-shaped body without streaming.
    public func create(body: JSONValue) async throws -> ChatCompletion {
        guard let model = body["model"]?.stringValue else { throw WireError.invalidRequest("the body has no \"model\"") }
        let provider = try client.provider(for: model)
        let wire = provider.kind.wireFormat
        let response = try await client.transport.execute(try wire.makeRequest(body, provider: provider, stream: false))
        try await ChoreoClient.checkStatus(response, wire: wire, provider: provider)
        let body = try await response.body.collect(upTo: 64 << 20)
        do {
            return try wire.decodeCompletion(body)
        } catch WireError.malformed(let message) {
            throw WireError.malformed(Redaction.redacting(provider.apiKey, in: message))  // it may quote the body
        } catch WireError.providerError(let type, let message) {
            throw WireError.providerError(type: type.map { Redaction.redacting(provider.apiKey, in: $0) },
                                          message: Redaction.redacting(provider.apiKey, in: message))
        }
    }
}
