public import ChoreoAI
public import ChoreoMock

extension MockServer {
    /// A client whose providers (OpenAI, Anthropic, Gemini) all talk to this server; `fault` goes
    /// out as the `x-mock-fault` header on every request (`drop:3`, `429`, `stall:2`), and
    /// `stallTimeout`, when given, replaces each provider's.
    public func client(fault: String? = nil, stallTimeout: Double? = nil) -> ChoreoClient {
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: baseURL)
        for i in router.providers.indices {
            if let fault { router.providers[i].extraHeaders.add(name: "x-mock-fault", value: fault) }
            if let stallTimeout { router.providers[i].stallTimeout = stallTimeout }
        }
        return ChoreoClient(router: router)
    }
}

extension MockContent {
    /// `tokens(model:messagesJSON:)` for messages held as ChoreoAI values (`ChatMessage.json`, a
    /// job's messages): they go to the mock as text, which it reads with its own parser.
    public static func tokens(model: String, messages: [JSONValue]) -> [String] {
        tokens(model: model, messagesJSON: JSONValue.array(messages).jsonString)
    }

    /// `reply(model:messagesJSON:maxTokens:)` for messages held as ChoreoAI values.
    public static func reply(model: String, messages: [JSONValue], maxTokens: Int?) -> (text: String, finishReason: String) {
        reply(model: model, messagesJSON: JSONValue.array(messages).jsonString, maxTokens: maxTokens)
    }
}
