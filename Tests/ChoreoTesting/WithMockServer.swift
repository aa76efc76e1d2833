public import ChoreoMock

/// Runs `body` with a mock provider listening on `host:port` (port 0: a free one) and shuts the
/// server down before returning, also when `body` throws: the shutdown is awaited, so no test
/// leaves connections or event-loop work behind for the next one.
public func withMockServer<T>(
    host: String = "127.0.0.1", port: Int = 0, config: MockConfig = .init(), sharingPort: Bool = false,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (MockServer) async throws -> T
) async throws -> T {
    let server = try await MockServer.start(host: host, port: port, config: config, sharingPort: sharingPort)
    return try await run(body, with: server, shutdown: server.shutdown)
}

/// Runs `body` with a `ScriptedServer` answering by `script`, and shuts it down as
/// `withMockServer` does.
public func withScriptedServer<T>(
    answering script: @escaping ScriptedServer.Script,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (ScriptedServer) async throws -> T
) async throws -> T {
    let server = try await ScriptedServer.start(script)
    return try await run(body, with: server, shutdown: server.shutdown)
}

/// `body(server)`, then `shutdown`, awaited on both paths; a failure of `body` wins over one of
/// the shutdown.
private func run<Server: Sendable, T>(
    _ body: (Server) async throws -> T, with server: Server, shutdown: () async throws -> Void,
    isolation: isolated (any Actor)? = #isolation
) async throws -> T {
    let result: T
    do {
        result = try await body(server)
    } catch {
        try? await shutdown()
        throw error
    }
    try await shutdown()
    return result
}
