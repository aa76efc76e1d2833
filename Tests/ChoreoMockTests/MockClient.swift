import ChoreoAI
import ChoreoHTTP
import ChoreoMock
import Foundation
import Testing

/// What a test saw of one exchange with the mock: head, raw body, SSE events, and how it ended.
struct MockExchange {
    var status: Int
    var headers: HeaderFields
    var body: [UInt8]
    var events: [SSEEvent]
    /// The transport error that ended the body, if it did not end cleanly.
    var error: (any Error)?

    var json: JSONValue? { try? JSONValue.parse(body) }
    /// A response header's value without surrounding whitespace (the transport keeps the CR LF).
    func header(_ name: String) -> String? {
        headers[name].map { String($0.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
    }
    var eventJSON: [JSONValue] { events.compactMap { try? JSONValue.parse($0.data) } }
    var transportErrorKind: TransportError.Kind? { (error as? TransportError)?.kind }

    /// Text of an OpenAI stream: the concatenated `choices[0].delta.content`.
    var openAIText: String { eventJSON.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined() }
    /// Text of an Anthropic stream: the concatenated `text_delta`s.
    var anthropicText: String { eventJSON.compactMap { $0["delta"]?["text"]?.stringValue }.joined() }
    /// Text of a Gemini stream: the concatenated text parts.
    var geminiText: String {
        eventJSON.flatMap { $0["candidates"]?.arrayValue?.first?["content"]?["parts"]?.arrayValue ?? [] }
            .compactMap { $0["text"]?.stringValue }.joined()
    }
}

/// POSTs `body` to `path` and reads the whole response, keeping a body-breaking error instead of throwing.
func post(_ server: MockServer, _ path: String, _ body: JSONValue, headers: [(String, String)] = [],
          stallTimeout: Double = 60) async throws -> MockExchange {
    let request = HTTPRequest(url: server.baseURL + path, method: "POST",
                              headers: HeaderFields([("content-type", "application/json")] + headers),
                              body: body.jsonBytes, stallTimeout: stallTimeout)
    let response = try await CurlTransport.shared.execute(request)
    var exchange = MockExchange(status: response.status, headers: response.headers, body: [], events: [], error: nil)
    var parser = SSEParser()
    do {
        for try await bytes in response.body {
            exchange.body += bytes
            exchange.events += try parser.feed(bytes)
        }
    } catch {
        exchange.error = error
    }
    return exchange
}

func get(_ server: MockServer, _ path: String) async throws -> MockExchange {
    let response = try await CurlTransport.shared.execute(HTTPRequest(url: server.baseURL + path, method: "GET"))
    let body = try await response.body.collect()
    return MockExchange(status: response.status, headers: response.headers, body: body, events: [], error: nil)
}

/// Sample conversations.
enum Sample {
    static let model = "mock-gpt"
    static let messages: [JSONValue] = [
        ["role": "system", "content": "You are terse."],
        ["role": "user", "content": "Name two moons of Mars."],
    ]
    static func messages(_ n: Int) -> [JSONValue] { [["role": "user", "content": .string("Question number \(n), please.")]] }

    static func openAI(_ messages: [JSONValue] = Sample.messages, stream: Bool = true, extra: [String: JSONValue] = [:]) -> JSONValue {
        var body: JSONValue = ["model": .string(model), "messages": .array(messages), "stream": .bool(stream)]
        for (k, v) in extra { body[k] = v }
        return body
    }

    static func anthropic(_ messages: [JSONValue] = [["role": "user", "content": "Name two moons of Mars."]],
                          system: String? = "You are terse.", maxTokens: Int = 1000, stream: Bool = true) -> JSONValue {
        var body: JSONValue = ["model": .string(model), "max_tokens": .int(Int64(maxTokens)), "messages": .array(messages), "stream": .bool(stream)]
        if let system { body["system"] = .string(system) }
        return body
    }

    static func gemini(maxTokens: Int? = nil) -> JSONValue {
        var body: JSONValue = [
            "contents": [["role": "user", "parts": [["text": "Name two moons of Mars."]]]],
            "systemInstruction": ["parts": [["text": "You are terse."]]],
        ]
        if let maxTokens { body["generationConfig"] = ["maxOutputTokens": .int(Int64(maxTokens))] }
        return body
    }

    static let geminiPath = "/v1beta/models/\(model):streamGenerateContent?alt=sse"
}

extension JSONValue {
    /// The element at `i` of an array (tests only).
    func at(_ i: Int) -> JSONValue? {
        guard let a = arrayValue, a.indices.contains(i) else { return nil }
        return a[i]
    }
}
