import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import ChoreoMock

/// A connection that closes while the mock is writing a paced stream: the stream ends once, as
/// closed by the client, and no wake of its pacer keeps writing it afterwards.
///
/// On a real socket the close can reach the handler from inside its own flush (the flush finds
/// the peer gone before the read side has seen the close). It did so under load in a parallel
/// test run: the stream was counted ended twice (`streamsActive` went to -1) and as completed.
@Suite("Mock: a connection closed inside a flush")
struct MockConnectionCloseTests {
    /// Closes the channel at its `n`th flush instead of flushing: what a flush that hits a reset
    /// connection does.
    final class CloseAtFlush: ChannelOutboundHandler {
        typealias OutboundIn = Any
        let n: Int
        var flushes = 0
        init(n: Int) { self.n = n }
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            if flushes == n { context.close(promise: nil) } else { context.flush() }
        }
    }

    @Test(arguments: [1, 2, 3])
    func aCloseInsideAFlushEndsTheStreamOnceAsTheClients(atFlush n: Int) throws {
        let state = MockServerState(config: MockConfig(chunkDelay: .milliseconds(100), fixedTokens: 20), created: 0)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(CloseAtFlush(n: n))
        try channel.pipeline.syncOperations.addHandler(MockHTTPHandler(server: state, pacer: state.pacer(for: channel.embeddedEventLoop)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()

        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions")
        head.headers.add(name: "content-type", value: "application/json")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        let body = #"{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"hello"}]}"#
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        // Every paced chunk's wake, were any left to come.
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))

        let stats = state.ledger.snapshot
        #expect(stats.streamsActive == 0, "\(stats)")
        #expect(stats.completed == 0, "\(stats)")
        #expect(stats.closedByClient == 1, "\(stats)")
        #expect(!channel.isActive)
    }
}
