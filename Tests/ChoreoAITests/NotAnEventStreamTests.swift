import ChoreoMock
import ChoreoTesting
import Testing
@testable import ChoreoAI

/// A streamed request answered 200 with something other than an event stream. A server that
/// ignores `stream` (some OpenAI-compatible gateways and servers do) sends the whole answer as
/// one JSON object: it is the answer, paid for, and is kept. A proxy's login page, or a web
/// server where the base URL should name an API, sends HTML: every request would get the same
/// page, so it stops the provider and says what came. Each read of these bodies was "the
/// connection closed before the end of the stream" before: the answer asked again and again,
/// the page's words lost. Every test talks to a real `ScriptedServer` through libcurl.
@Suite("Answers that are not event streams")
struct NotAnEventStreamTests {
    static let wholeAnswers: [(model: String, json: String)] = [
        ("gpt-4o-mini", #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Phobos and Deimos."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#),
        ("claude-sonnet-4-5", #"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Phobos and Deimos."}],"stop_reason":"end_turn","usage":{"input_tokens":9,"output_tokens":5}}"#),
        ("gemini-2.0-flash", #"{"candidates":[{"content":{"parts":[{"text":"Phobos and Deimos."}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":14}}"#),
    ]

    func client(_ server: ScriptedServer) -> ChoreoClient {
        ChoreoClient(router: ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL))
    }

    func body(_ model: String) -> JSONValue {
        ["model": .string(model), "messages": [["role": "user", "content": "Name the moons of Mars."]]]
    }

    /// Iterated chunk by chunk: one chunk with the whole text and its finish reason.
    @Test(arguments: wholeAnswers)
    func aWholeAnswerIsOneChunk(model: String, json: String) async throws {
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.reply(contentType: "application/json", body: json))] }) { server in
            let client = client(server)
            let stream = try await client.stream(body: body(model), provider: try client.provider(for: model))
            var chunks: [ChatCompletionChunk] = []
            for try await chunk in stream { chunks.append(chunk) }
            #expect(chunks.count == 1)
            #expect(chunks.first?.choices.first?.delta.content == "Phobos and Deimos.")
            #expect(chunks.first?.choices.first?.finishReason == .stop)
            #expect(stream.completion.usage?.completionTokens == 5)
        }
    }

    /// Collected (the batch runner's way), with white space before it as some servers send.
    @Test(arguments: wholeAnswers)
    func aWholeAnswerIsCollected(model: String, json: String) async throws {
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.reply(contentType: "application/json", body: "\n" + json))] }) { server in
            let client = client(server)
            let stream = try await client.stream(body: body(model), provider: try client.provider(for: model), delivery: .collected)
            let completion = try await stream.collect()
            #expect(completion.text == "Phobos and Deimos.")
            #expect(completion.choices.first?.finishReason == .stop)
            #expect(completion.usage?.promptTokens == 9)
        }
    }

    /// Sent in pieces, as a large answer arrives: read whole at the end.
    @Test func aWholeAnswerInPiecesIsReadAtItsEnd() async throws {
        let json = Self.wholeAnswers[0].json
        let cut = json.index(json.startIndex, offsetBy: 40)
        let head = ["HTTP/1.1 200 OK", "Content-Type: application/json", "Connection: close"].joined(separator: "\r\n") + "\r\n\r\n"
        try await withScriptedServer(answering: { _ in
            [.send(head + json[..<cut]), .pause(seconds: 0.05), .send(String(json[cut...]))]
        }) { server in
            let client = client(server)
            let stream = try await client.stream(body: body("gpt-4o-mini"), provider: try client.provider(for: "gpt-4o-mini"), delivery: .collected)
            #expect(try await stream.collect().text == "Phobos and Deimos.")
        }
    }

    /// A whole error object with a 200 is the provider's error, in its words, and retried.
    @Test func aWholeErrorObjectIsTheProvidersError() async throws {
        let json = #"{"error":{"message":"The upstream model is overloaded","type":"server_error"}}"#
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.reply(contentType: "application/json", body: json))] }) { server in
            let client = client(server)
            do {
                let stream = try await client.stream(body: body("gpt-4o-mini"), provider: try client.provider(for: "gpt-4o-mini"), delivery: .collected)
                _ = try await stream.collect()
                Issue.record("expected the provider's error")
            } catch let error as StreamError {
                #expect(error.kind == .providerError)
                #expect(error.message == "The upstream model is overloaded")
                #expect(RequestFailure.classify(error).retryable)
            }
        }
    }

    /// A web page: its title is quoted, and the provider is stopped (every request gets it).
    @Test(arguments: [StreamDelivery.chunks, .collected])
    func aWebPageStopsTheProviderAndIsQuoted(delivery: StreamDelivery) async throws {
        let page = "<!DOCTYPE html>\n<html><head><title>Guest Wi-Fi: please log in</title></head><body><form>…</form></body></html>"
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.reply(contentType: "text/html; charset=utf-8", body: page))] }) { server in
            let client = client(server)
            do {
                let stream = try await client.stream(body: body("gpt-4o-mini"), provider: try client.provider(for: "gpt-4o-mini"), delivery: delivery)
                for try await _ in stream {}
                _ = try await stream.collect()
                Issue.record("expected an error")
            } catch let error as StreamError {
                #expect(error.kind == .notAnEventStream)
                #expect(error.message == #"the server answered with a web page, not an event stream: "Guest Wi-Fi: please log in""#)
                let failure = RequestFailure.classify(error)
                #expect(failure.stopsProvider && !failure.retryable)
                #expect(failure.kind == .protocolError)
                #expect(failure.message.hasSuffix("(no API at this URL: is the provider's base URL right?)"), "\(failure.message)")
            }
        }
    }

    /// A page without a title is quoted by its first words, tags and white space left out.
    @Test func aPageWithoutATitleIsQuotedByItsText() {
        let page = Array("  <html>\n<body><h1>Access   denied</h1><p>by policy 7</p></body></html>".utf8)
        #expect(NotAnEventStream.pageSummary(page[...]) == "Access denied by policy 7")
    }
}
