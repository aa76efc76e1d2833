import ChoreoAI

extension ChoreoAI {
    /// A client whose providers (OpenAI, Anthropic, Gemini) all talk to one local origin, such as
    /// a `MockServer`'s `baseURL`; `fault` goes out as the mock's `x-mock-fault` header on every
    /// request (`drop:3`, `429`, `stall:2`).
    public static func pointed(at origin: String, fault: String? = nil, stallTimeout: Double? = nil) -> ChoreoAI {
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: origin)
        for i in router.providers.indices {
            if let fault { router.providers[i].extraHeaders.add(name: "x-mock-fault", value: fault) }
            if let stallTimeout { router.providers[i].stallTimeout = stallTimeout }
        }
        return ChoreoAI(router: router)
    }
}
