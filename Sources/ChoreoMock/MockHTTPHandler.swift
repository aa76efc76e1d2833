import NIOCore
import NIOHTTP1

/// One connection's request handling: routes each request, decides content and faults, and
/// drives a streamed response frame by frame on the channel's event loop.
///
/// Everything here runs on the channel's event loop (handlers are not shared), so the stream
/// state needs no lock. Delays are the loop's `MockPacer`, never sleeps; with no delay all frames
/// are written and flushed once.
final class MockHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bodies above this size are refused (the mock is not a place for huge uploads).
    static let maxBodyBytes = 64 << 20

    /// A streamed response in progress.
    fileprivate struct ActiveStream {
        /// Which of the connection's streams this is: a wake for an earlier one finds another.
        var number: Int
        var plan: MockStreamPlan
        var next = 0
        var contentSent = 0
        /// Whether the final usage went out (what the "provider" bills for a stream cut later).
        var usageSent = false
        var bill: MockBill
        var fault: MockFault?
        var keepAlive: Bool
        /// Whether the delay before the next content frame has passed.
        var waited = false
    }

    private let server: MockServerState
    private let pacer: MockPacer
    private var streamsStarted = 0
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var stream: ActiveStream?

    init(server: MockServerState, pacer: MockPacer) {
        self.server = server
        self.pacer = pacer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
        case .body(var bytes):
            guard body.readableBytes + bytes.readableBytes <= Self.maxBodyBytes else {
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&bytes)
        case .end:
            guard let head else { return }
            self.head = nil
            handle(head, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let s = stream {
            stream = nil
            server.ledger.streamEnded()
            server.ledger.bill(s.bill, completion: s.billedCompletion)
            if !server.isShuttingDown { server.ledger.closedByClient() }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: routing

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let route = MockRoute(method: head.method.rawValue, uri: head.uri)
        if route != .stats { server.ledger.requestReceived() }
        let requestID = "req_mock_" + MockFormat.hex(UInt64.random(in: 0 ... .max))
        switch route {
        case .stats:
            send(MockHTTPResponse(status: 200, json: server.ledger.snapshot.json), head: head, context: context)
        case .openAIModels:
            let openAI = server.openAI
            send(MockHTTPResponse(status: 200, headers: openAI.commonHeaders(requestID: requestID), json: openAI.models()), head: head, context: context)
        case .notFound:
            let message = "Unknown request URL: \(head.method.rawValue) \(head.uri). The mock serves /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/messages and /v1beta/models/{model}:streamGenerateContent (and :batchEmbedContents)."
            send(OpenAIMockResponder.error(404, message, type: "invalid_request_error", code: "unknown_url", headers: []), head: head, context: context)
        case .openAIChat:
            respond(with: server.openAI, pathModel: nil, stream: nil, head: head, requestID: requestID, context: context)
        case .openAIResponses:
            respond(with: server.openAIResponses, pathModel: nil, stream: nil, head: head, requestID: requestID, context: context)
        case .anthropicMessages:
            respond(with: server.anthropic, pathModel: nil, stream: nil, head: head, requestID: requestID, context: context)
        case .gemini(let model, let stream, let sse):
            let responder = GeminiMockResponder(sse: sse)
            respond(with: responder, pathModel: model, stream: stream, head: head, requestID: requestID, context: context)
        case .openAIEmbeddings:
            respondToEmbeddings(with: server.openAI, head: head, requestID: requestID, context: context) { body throws(MockRejection) in
                (try MockEmbeddings.openAIRequest(body), MockEmbeddings.openAIResponse)
            }
        case .geminiEmbeddings(let model):
            respondToEmbeddings(with: GeminiMockResponder(sse: false), head: head, requestID: requestID, context: context) { body throws(MockRejection) in
                (try MockEmbeddings.geminiRequest(body, pathModel: model), MockEmbeddings.geminiResponse)
            }
        }
    }

    /// Fails the request as the outage in progress says (`MockServer.beginOutage`); false when none is.
    private func answeredOutage(with responder: some MockResponder, head: HTTPRequestHead, requestID: String,
                                context: ChannelHandlerContext) -> Bool {
        guard let kind = server.outageFault else { return false }
        server.ledger.fault(kind)
        if MockFault(kind: kind).isStatus {
            send(responder.error(kind, config: server.config, requestID: requestID), head: head, context: context)
        } else {
            context.close(promise: nil)
        }
        return true
    }

    /// The request's body as JSON.
    private func requestJSON() throws(MockRejection) -> MockJSON {
        guard let json = MockJSON(parsing: body.readableBytesView) else {
            throw MockRejection(message: "We could not parse the JSON body of your request.")
        }
        return json
    }

    /// The fault the `x-mock-fault` header asks for.
    private static func headerFault(_ head: HTTPRequestHead) throws(MockRejection) -> MockFault? {
        try head.headers.first(name: "x-mock-fault").map { spec throws(MockRejection) in
            guard let fault = MockFault(spec: spec) else { throw MockRejection(message: "x-mock-fault: unknown fault '\(spec)'") }
            return fault
        }
    }

    /// Answers an embeddings request (not streamed): validation, then the fault (if any) or the
    /// vectors. Faults as for chat: an outage, `x-mock-fault`, the body's `mock`, random ones;
    /// a stream fault breaks the one response (`drop` closes it, `stall` never answers,
    /// `malformed` sends broken JSON).
    private func respondToEmbeddings(with responder: some MockResponder, head: HTTPRequestHead, requestID: String, context: ChannelHandlerContext,
                                     read: (MockJSON) throws(MockRejection) -> (MockEmbeddings.Request, (MockEmbeddings.Request) -> [UInt8])) {
        let config = server.config
        if answeredOutage(with: responder, head: head, requestID: requestID, context: context) { return }
        let request: MockEmbeddings.Request
        let encode: (MockEmbeddings.Request) -> [UInt8]
        let fault: MockFault?
        let attempt: Int
        do throws(MockRejection) {
            let json = try requestJSON()
            (request, encode) = try read(json)
            let headerFault = try Self.headerFault(head)
            attempt = server.ledger.nextAttempt(key: request.key)
            fault = headerFault ?? request.bodyFault?.fault(attempt: attempt) ?? config.randomFault(key: request.key, attempt: attempt, contentChunks: 1)
        } catch {
            send(responder.rejection(error, requestID: requestID), head: head, context: context)
            return
        }
        var headers = responder.commonHeaders(requestID: requestID) + [("x-mock-attempt", String(attempt))]
        if let fault {
            server.ledger.fault(fault.kind)
            headers.append(("x-mock-fault", fault.kind.rawValue))
            if fault.isStatus {
                var response = responder.error(fault.kind, config: config, requestID: requestID)
                response.headers += headers.filter { $0.0.hasPrefix("x-mock-") }
                send(response, head: head, context: context)
                return
            }
        }
        let bill = MockBill(promptTokens: request.promptTokens)
        switch fault?.kind {
        case .drop?, .cutAfterUsage?:
            server.ledger.bill(bill, completion: 0)
            context.close(promise: nil)
        case .stall?:
            server.ledger.bill(bill, completion: 0)  // no response; the client times out or gives up
        case .malformed?:
            server.ledger.bill(bill, completion: 0)
            send(MockHTTPResponse(status: 200, headers: headers + [("content-type", "application/json")], body: Array("{\"object\": broken".utf8)),
                 head: head, context: context, close: true)
        default:
            server.ledger.completed()
            server.ledger.bill(bill, completion: 0)
            send(MockHTTPResponse(status: 200, headers: headers + [("content-type", "application/json")], body: encode(request)),
                 head: head, context: context)
        }
    }

    /// Answers a chat request: validation, content, then the fault (if any) or the reply.
    private func respond(with responder: some MockResponder, pathModel: String?, stream forcedStream: Bool?,
                         head: HTTPRequestHead, requestID: String, context: ChannelHandlerContext) {
        let config = server.config
        if answeredOutage(with: responder, head: head, requestID: requestID, context: context) { return }
        let reply: MockReply
        var conversation: MockConversation
        let plan: MockStreamPlan?
        let fault: MockFault?
        do throws(MockRejection) {
            let json = try requestJSON()
            conversation = try responder.conversation(from: json, pathModel: pathModel)
            if let forcedStream { conversation.stream = forcedStream }
            let headerFault = try Self.headerFault(head)
            let transcript = MockTranscript(model: conversation.model, messages: conversation.messages)
            let attempt = server.ledger.nextAttempt(key: transcript.key ^ (conversation.bodyFault?.key ?? 0))
            reply = try MockReply(conversation, transcript: transcript, attempt: attempt, fixedTokens: config.fixedTokens)
            let bodyFault = conversation.bodyFault?.fault(attempt: attempt)
            plan = conversation.stream ? responder.stream(reply, for: conversation) : nil
            let chunks = plan?.contentFrames ?? reply.pieces.count
            fault = headerFault ?? bodyFault ?? config.randomFault(key: transcript.key, attempt: attempt, contentChunks: chunks)
        } catch {
            send(responder.rejection(error, requestID: requestID), head: head, context: context)
            return
        }

        var mockHeaders = [("x-mock-attempt", String(reply.attempt))]
        if let fault { mockHeaders.append(("x-mock-fault", fault.kind.rawValue)) }
        let headers = responder.commonHeaders(requestID: requestID) + mockHeaders
        if let fault {
            server.ledger.fault(fault.kind)
            if fault.isStatus {
                var response = responder.error(fault.kind, config: config, requestID: requestID)
                response.headers += mockHeaders
                send(response, head: head, context: context)
                return
            }
        }
        if let plan {
            startStream(plan, bill: MockBill(reply), fault: fault, headers: headers, head: head, context: context)
            return
        }
        switch fault?.kind {
        case .drop?:
            context.close(promise: nil)
        case .stall?:
            break  // no response; the client times out or gives up
        case .malformed?:
            server.ledger.bill(MockBill(reply), completion: reply.completionTokens)
            let broken = MockHTTPResponse(status: 200, headers: headers + [("content-type", "application/json")], body: Array("{\"id\": broken".utf8))
            send(broken, head: head, context: context, close: true)
        default:
            server.ledger.completed()
            server.ledger.bill(MockBill(reply), completion: reply.completionTokens)
            send(MockHTTPResponse(status: 200, headers: headers, json: responder.completion(reply, for: conversation)), head: head, context: context)
        }
    }

    // MARK: writing

    private func send(_ response: MockHTTPResponse, head: HTTPRequestHead, context: ChannelHandlerContext, close: Bool = false) {
        var headers = NIOHTTP1.HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        let close = close || !head.isKeepAlive
        if close { headers.replaceOrAdd(name: "connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(NIOHTTP1.HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }

    private func startStream(_ plan: MockStreamPlan, bill: MockBill, fault: MockFault?, headers: [(String, String)],
                             head: HTTPRequestHead, context: ChannelHandlerContext) {
        var fields = NIOHTTP1.HTTPHeaders(headers)
        fields.add(name: "content-type", value: plan.contentType)
        fields.add(name: "cache-control", value: "no-cache")
        fields.add(name: "transfer-encoding", value: "chunked")
        let keepAlive = head.isKeepAlive && !plan.closeAfter
        if !keepAlive { fields.add(name: "connection", value: "close") }
        server.ledger.streamStarted()
        context.write(wrapOutboundOut(.head(NIOHTTP1.HTTPResponseHead(version: head.version, status: .ok, headers: fields))), promise: nil)
        streamsStarted += 1
        stream = ActiveStream(number: streamsStarted, plan: plan, bill: bill, fault: fault, keepAlive: keepAlive)
        pump(context: context)
    }

    /// Writes frames until the stream ends, a fault strikes, or a delay is due.
    private func pump(context: ChannelHandlerContext) {
        guard var s = stream else { return }
        let delay = server.config.chunkDelay
        while s.next < s.plan.frames.count {
            let frame = s.plan.frames[s.next]
            if let fault = s.fault, fault.kind == .cutAfterUsage
                ? s.usageSent
                : frame.role == .final || frame.role == .usage || (frame.role == .content && s.contentSent >= fault.afterChunks) {
                strike(fault, stream: s, context: context)
                return
            }
            if frame.role == .content && delay > .zero && !s.waited {
                s.waited = true
                stream = s
                // A flush that finds the connection gone closes it from inside this call:
                // `channelInactive` has then ended the stream, and nothing may go on writing it.
                context.flush()
                guard stream != nil else { return }
                let number = s.number
                pacer.after(TimeAmount(delay)) { [self] in
                    guard stream?.number == number else { return }  // closed meanwhile
                    pump(context: context)
                }
                return
            }
            write(frame.text, context: context)
            s.next += 1
            if frame.role == .content {
                s.contentSent += 1
                s.waited = false
            }
            if frame.role == .usage { s.usageSent = true }
        }
        stream = nil
        server.ledger.streamEnded()
        server.ledger.completed()
        server.ledger.bill(s.bill, completion: s.bill.completionTokens)
        let keepAlive = s.keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// Breaks the stream the way `fault` says. Closing here is the server's doing, so the stream
    /// is finished first and the close does not count as the client's.
    private func strike(_ fault: MockFault, stream s: ActiveStream, context: ChannelHandlerContext) {
        switch fault.kind {
        case .stall:
            stream = s  // billed when the client gives up (`channelInactive`)
            context.flush()
        case .malformed:
            write(s.plan.malformed, context: context)
            fallthrough
        default:
            stream = nil
            server.ledger.streamEnded()
            server.ledger.bill(s.bill, completion: s.billedCompletion)
            context.flush()
            context.close(promise: nil)
        }
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(string: text)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }
}

extension MockHTTPHandler.ActiveStream {
    /// What a stream cut now is billed for output: everything once the usage went out, else the
    /// reasoning and the content chunks sent (a provider bills what it generated).
    var billedCompletion: Int { usageSent ? bill.completionTokens : min(bill.completionTokens, bill.reasoningTokens + contentSent) }
}
