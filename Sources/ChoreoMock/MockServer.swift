import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A local HTTP server that imitates the OpenAI, Anthropic and Gemini chat APIs deterministically
/// (see `MockContent`), with faults on demand (`MockFault`, `x-mock-fault`) or at random
/// (`MockConfig.faultRate`). Tests, demos and offline pipelines point their base URLs at it.
///
/// Endpoints: `POST /v1/chat/completions`, `GET /v1/models`, `POST /v1/messages`,
/// `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `:generateContent`,
/// `GET /mock/stats`. Runs on SwiftNIO's shared event loop group (one loop per core).
public final class MockServer: Sendable {
    private let channel: any Channel
    private let state: MockServerState
    private let host: String

    /// The port the server listens on (the ephemeral one when started with port 0).
    public let port: Int

    private init(channel: any Channel, state: MockServerState, host: String, port: Int) {
        self.channel = channel
        self.state = state
        self.host = host
        self.port = port
    }

    /// Starts listening on `host:port` (port 0 picks a free port).
    ///
    /// `sharingPort` sets SO_REUSEPORT, for a test that stops a server and starts another on the
    /// same port while a socket of its own keeps the port from anyone else meanwhile. Off by
    /// default: two servers on one port would share its connections.
    public static func start(host: String = "127.0.0.1", port: Int = 0, config: MockConfig = .init(),
                             sharingPort: Bool = false) async throws -> MockServer {
        let state = MockServerState(config: config, created: Int(Date().timeIntervalSince1970))
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: sharingPort ? 1 : 0)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                state.opened(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MockHTTPHandler(server: state, pacer: state.pacer(for: channel.eventLoop)))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw MockServerError.portInUse(host: host, port: port)
        }
        let bound = channel.localAddress?.port ?? port
        return MockServer(channel: channel, state: state, host: host, port: bound)
    }

    /// `http://HOST:PORT`, no path. A wildcard host (`0.0.0.0`, `::`) is given as 127.0.0.1.
    public var baseURL: String {
        let name: String
        switch host {
        case "0.0.0.0", "::", "": name = "127.0.0.1"
        default: name = host.contains(":") ? "[\(host)]" : host
        }
        return "http://\(name):\(port)"
    }

    /// The configuration the server runs with.
    public var config: MockConfig { state.config }

    /// Counters since start.
    public func stats() -> MockStats { state.ledger.snapshot }

    /// When each request arrived and each fault was answered, since start.
    public func timeline() -> MockTimeline { state.ledger.timeline }

    /// Makes every chat request of the next `duration` fail with `kind`, as a provider that is down
    /// does: a status kind (`503`, `500`) answers with it; `drop` closes the connection with no reply
    /// (curl's "empty reply from server"). Streams already running are not touched. The requests
    /// do not count as attempts for the random fault schedule.
    public func beginOutage(for duration: Duration, kind: MockFault.Kind = .overloaded) {
        state.beginOutage(until: ContinuousClock.now + duration, kind: kind)
    }

    /// Stops listening and closes every open connection, stalled streams included.
    public func shutdown() async throws {
        let open = state.beginShutdown()
        do {
            try await channel.close()
        } catch ChannelError.alreadyClosed {}
        for connection in open { connection.close(promise: nil) }
        for connection in open { try? await connection.closeFuture.get() }
    }
}


/// Why the mock could not start, in words a user acts on (NIO's own text names a syscall).
public enum MockServerError: Error, Sendable, CustomStringConvertible {
    case portInUse(host: String, port: Int)

    public var description: String {
        switch self {
        case .portInUse(let host, let port):
            return "port \(port) is in use (something already listens on \(host):\(port)); stop it or pick another with --port"
        }
    }
}
