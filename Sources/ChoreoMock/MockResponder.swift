import Foundation

/// One provider's dialect: how its requests read and how its replies, streams and errors look.
/// The server decides *what* to answer (content, faults); a responder decides how it is spelled.
protocol MockResponder: Sendable {
    /// Reads a request body (and the model named in the path, for Gemini).
    func conversation(from body: MockJSON, pathModel: String?) throws(MockRejection) -> MockConversation
    /// The streamed response as frames, in order.
    func stream(_ reply: MockReply, for conversation: MockConversation) -> MockStreamPlan
    /// The non-streamed response body.
    func completion(_ reply: MockReply, for conversation: MockConversation) -> MockJSON
    /// The response for an HTTP-status fault (429, 500, 503, quota).
    func error(_ kind: MockFault.Kind, config: MockConfig, requestID: String) -> MockHTTPResponse
    /// A 400 for a request the mock refuses.
    func rejection(_ rejection: MockRejection, requestID: String) -> MockHTTPResponse
    /// Headers sent on every response of this provider (request ids, rate-limit state).
    func commonHeaders(requestID: String) -> [(String, String)]
}

/// A complete (non-streamed) HTTP response.
struct MockHTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    init(status: Int, headers: [(String, String)] = [], json: MockJSON) {
        self.status = status
        self.headers = [("content-type", "application/json")] + headers
        self.body = json.bytes
    }

    init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A streamed response: frames in order, each marked with its part in the stream so that a fault
/// "after N chunks" counts only content.
struct MockStreamPlan: Sendable {
    /// `usage`: the frame that carries the final usage (before the terminator); faults strike
    /// before it like before a `final` frame, except `cutAfterUsage`, which strikes right after it.
    enum Role: Sendable { case prelude, content, usage, final }

    struct Frame: Sendable {
        var role: Role
        var text: String
    }

    var contentType = "text/event-stream"
    var frames: [Frame] = []
    /// What a `malformed` fault sends before closing.
    var malformed = "data: {\"id\": broken\n\n"
    /// Close the connection after the last frame (Gemini streams end with the connection).
    var closeAfter = false

    mutating func append(_ role: Role, _ text: String) { frames.append(Frame(role: role, text: text)) }

    var contentFrames: Int { frames.reduce(0) { $0 + ($1.role == .content ? 1 : 0) } }
}

/// Where a request goes.
enum MockRoute: Sendable, Equatable {
    case openAIChat
    case openAIResponses
    case openAIEmbeddings
    case geminiEmbeddings(model: String)
    case openAIModels
    case anthropicMessages
    case gemini(model: String, stream: Bool, sse: Bool)
    case stats
    case notFound

    /// Routes by path suffix, so base URLs with or without `/v1` both work.
    init(method: String, uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]), query = parts.count > 1 ? String(parts[1]) : ""
        if method == "GET" {
            if path == "/mock/stats" { self = .stats } else if path.hasSuffix("/models") { self = .openAIModels } else { self = .notFound }
            return
        }
        guard method == "POST" else { self = .notFound; return }
        if path.hasSuffix("/chat/completions") {
            self = .openAIChat
        } else if path.hasSuffix("/responses") {
            self = .openAIResponses
        } else if path.hasSuffix("/embeddings") {
            self = .openAIEmbeddings
        } else if path.hasSuffix("/messages") {
            self = .anthropicMessages
        } else if let modelsRange = path.range(of: "/models/"), let colon = path.lastIndex(of: ":"), colon > modelsRange.upperBound {
            let rawModel = String(path[modelsRange.upperBound..<colon])
            let model = rawModel.removingPercentEncoding ?? rawModel  // model names may be %-escaped
            let method = path[path.index(after: colon)...]
            let sse = query.split(separator: "&").contains("alt=sse")
            switch method {
            case "streamGenerateContent": self = .gemini(model: model, stream: true, sse: sse)
            case "generateContent": self = .gemini(model: model, stream: false, sse: false)
            case "batchEmbedContents": self = .geminiEmbeddings(model: model)
            default: self = .notFound
            }
        } else {
            self = .notFound
        }
    }
}

/// Pieces every responder needs.
enum MockFormat {
    /// A response or call id from the request key and attempt: stable for tests, distinct per attempt.
    static func id(_ prefix: String, _ reply: MockReply) -> String {
        prefix + hex(reply.key) + String(reply.attempt, radix: 36)
    }

    static func hex(_ n: UInt64) -> String {
        let s = String(n, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// `ceil(ms / 1000)` seconds, at least 1, for `retry-after`.
    static func retryAfterSeconds(_ ms: Int) -> String { String(max(1, (ms + 999) / 1000)) }
}
