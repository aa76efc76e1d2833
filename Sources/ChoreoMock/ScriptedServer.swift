import Foundation
import NIOCore
import NIOPosix
import ChoreoLocking

/// A raw TCP server that answers each HTTP request with whatever bytes a script says, at whatever
/// pace: a garbled status line, a header block that never ends, an event stream without blank
/// lines, a body dripping one byte at a time. `MockServer` speaks HTTP through NIO's encoder and
/// cannot send a broken reply; this one exists for the tests of hostile servers.
///
/// One request per connection: the request is read (head, then a `Content-Length` body), the
/// script's steps run in order on the connection's event loop, and the connection is closed. A
/// step waits for its write to reach the socket before the next begins, so a client that stops
/// reading stops the script instead of growing this process's memory.
public final class ScriptedServer: Sendable {
    /// One received request.
    public struct Request: Sendable {
        /// `POST /v1/chat/completions HTTP/1.1`
        public let requestLine: String
        public let headers: [(name: String, value: String)]
        public let body: [UInt8]

        /// The first value of header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    public indirect enum Step: Sendable {
        case send([UInt8])
        case pause(seconds: Double)
        /// The bytes one at a time, `interval` seconds apart.
        case drip([UInt8], interval: Double)
        /// `steps` again and again, `times` times (nil: until the client goes away).
        case repeating([Step], times: Int?)

        public static func send(_ text: String) -> Step { .send(Array(text.utf8)) }
    }

    public typealias Script = @Sendable (Request) -> [Step]

    private let channel: any Channel
    private let connections = Locked([ObjectIdentifier: any Channel]())
    private let received = Locked([Request]())
    private let events = Locked([String]())
    private let startedAt = ContinuousClock.now
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Starts listening on 127.0.0.1 at a free port; `script` decides each answer.
    public static func start(_ script: @escaping Script) async throws -> ScriptedServer {
        let box = Locked<ScriptedServer?>(nil)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                box.withLock { $0 }?.opened(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedConnection(script: { request in
                        box.withLock { $0 }?.received.withLock { $0.append(request) }
                        return script(request)
                    }, note: { box.withLock { $0 }?.note($0, channel) }))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let server = ScriptedServer(channel: channel, port: channel.localAddress?.port ?? 0)
        box.withLock { $0 = server }
        return server
    }

    /// `http://127.0.0.1:PORT`, no path.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request received so far, in order.
    public var requests: [Request] { received.withLock { $0 } }

    /// What happened on each connection so far, in order, each with its time since the server
    /// started and the client's port: for a failing test's message (did the request arrive, did
    /// the answer leave, when).
    public var log: [String] { events.withLock { $0 } }

    private func note(_ event: String, _ channel: any Channel) {
        let line = "\(ContinuousClock.now - startedAt) port \(channel.remoteAddress?.port ?? 0): \(event)"
        events.withLock { $0.append(line) }
    }

    private func opened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        note("accepted", channel)
        channel.closeFuture.whenComplete { [self] _ in
            note("closed", channel)
            _ = connections.withLock { $0.removeValue(forKey: id) }
        }
    }

    /// Stops listening and closes every open connection (scripts still running included).
    public func shutdown() async throws {
        do { try await channel.close() } catch ChannelError.alreadyClosed {}
        for connection in connections.withLock({ Array($0.values) }) { try? await connection.close() }
    }

    /// A 200 event stream head (`Content-Type: text/event-stream`, no length: the body ends when
    /// the connection closes), with `extraHeaders` lines (`name: value`).
    public static func eventStreamHead(status: String = "200 OK", _ extraHeaders: [String] = []) -> String {
        (["HTTP/1.1 \(status)", "Content-Type: text/event-stream", "Connection: close"] + extraHeaders)
            .joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// A whole OpenAI chat stream answering with `text`, ending in `[DONE]`.
    public static func openAIStream(_ text: String) -> String {
        func chunk(_ delta: String, _ finish: String) -> String {
            #"data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(finish)}]}"#
                + "\n\n"
        }
        let content = MockJSON.quoted(text)
        return chunk(#"{"role":"assistant","content":\#(content)}"#, "null") + chunk("{}", #""stop""#) + "data: [DONE]\n\n"
    }

    /// A complete error reply with a JSON body and `headers` lines (`name: value`).
    public static func errorReply(status: String, headers: [String] = [], json: String) -> String {
        reply(status: status, headers: headers, contentType: "application/json", body: json)
    }

    /// A complete reply: `body` of `contentType`, its length given, the connection closed after it.
    public static func reply(status: String = "200 OK", headers: [String] = [], contentType: String, body: String) -> String {
        (["HTTP/1.1 \(status)", "Content-Type: \(contentType)", "Content-Length: \(body.utf8.count)", "Connection: close"] + headers)
            .joined(separator: "\r\n") + "\r\n\r\n" + body
    }
}

/// One connection of a `ScriptedServer`: reads the request, then runs its script.
private final class ScriptedConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let script: @Sendable (ScriptedServer.Request) -> [ScriptedServer.Step]
    private let note: @Sendable (String) -> Void
    private var input: [UInt8] = []
    private var answered = false

    init(script: @escaping @Sendable (ScriptedServer.Request) -> [ScriptedServer.Step], note: @escaping @Sendable (String) -> Void) {
        self.script = script
        self.note = note
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var buffer = unwrapInboundIn(data)
        input += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let request = Self.parse(input) else { return }
        answered = true
        note("request read (\(input.count) bytes)")
        let channel = context.channel
        let finished = channel.eventLoop.makePromise(of: Void.self)
        finished.futureResult.whenComplete { [note] result in
            if case .success = result { note("script done") } else { note("script stopped: the client went away") }
            channel.close(promise: nil)
        }
        Self.run(script(request)[...], on: channel, firstWrite: { [note] in note("first bytes written") }, then: finished)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    /// The request once its head and `Content-Length` body are in.
    private static func parse(_ bytes: [UInt8]) -> ScriptedServer.Request? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return ScriptedServer.Request(requestLine: lines.first ?? "", headers: headers, body: Array(bytes[(end + 4)..<(end + 4 + length)]))
    }

    /// Runs `steps` in order, then completes `promise`; fails it when the client went away. Each
    /// step continues from a fresh event-loop task: a write to a fast reader completes at once,
    /// and chaining those directly would nest one stack frame per step.
    /// `firstWrite` is called when the first bytes reached the socket.
    private static func run(_ steps: ArraySlice<ScriptedServer.Step>, on channel: any Channel, firstWrite: (@Sendable () -> Void)?,
                            then promise: EventLoopPromise<Void>) {
        guard let step = steps.first else { return promise.succeed() }
        var rest = steps.dropFirst()
        let done: EventLoopFuture<Void>
        var firstWrite = firstWrite
        switch step {
        case .send(let bytes):
            done = channel.writeAndFlush(ByteBuffer(bytes: bytes))
            if let wrote = firstWrite {
                done.whenSuccess { wrote() }
                firstWrite = nil
            }
        case .pause(let seconds):
            done = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {}.futureResult
        case .drip(let bytes, let interval):
            rest = ArraySlice(bytes.flatMap { [ScriptedServer.Step.send([$0]), .pause(seconds: interval)] } + rest)
            done = channel.eventLoop.makeSucceededVoidFuture()
        case .repeating(let body, let times):
            if times.map({ $0 > 0 }) ?? true { rest = ArraySlice(body + [.repeating(body, times: times.map { $0 - 1 })] + rest) }
            done = channel.eventLoop.makeSucceededVoidFuture()
        }
        let remaining = rest, laterFirstWrite = firstWrite
        done.whenComplete { result in
            guard case .success = result, channel.isActive else { return promise.fail(ChannelError.ioOnClosedChannel) }
            channel.eventLoop.execute { run(remaining, on: channel, firstWrite: laterFirstWrite, then: promise) }
        }
    }
}
