import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// Before the first byte of its answer, a request is not a stalled stream: a model that reasons
/// before it writes sends nothing meanwhile (OpenAI's chat completions: over a minute at a high
/// effort; Gemini's thinking), and a server of your own that runs fewer requests than it is sent
/// (Ollama's `OLLAMA_NUM_PARALLEL`, llama.cpp's slots, vLLM past its batch) holds the rest with
/// nothing (Ollama) or only the head (llama.cpp, vLLM) until a slot frees. The stall rule took
/// each for a dead server: the request was asked again (and paid for again), and a run of them
/// marked the provider down. The first-byte timeout bounds that wait instead.
@Suite("The first byte's timeout")
struct FirstByteTimeoutTests {
    /// A line of an OpenAI stream with no finish: what the running request's slot sends.
    static let dot = #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"."},"finish_reason":null}]}"# + "\n\n"

    func client(_ server: ScriptedServer, stallTimeout: Double, firstByteTimeout: Double? = nil) -> ChoreoClient {
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices {
            router.providers[i].stallTimeout = stallTimeout
            router.providers[i].firstByteTimeout = firstByteTimeout
        }
        return ChoreoClient(router: router)
    }

    func body(_ prompt: String) -> JSONValue {
        ["model": "gpt-4o-mini", "messages": [["role": "user", "content": .string(prompt)]]]
    }

    /// The text of one streamed attempt with `prompt`, or the error it ended with.
    func attempt(_ client: ChoreoClient, _ prompt: String) async -> Result<String, any Error> {
        do {
            let stream = try await client.stream(body: body(prompt), provider: try client.provider(for: "gpt-4o-mini"), delivery: .collected)
            return .success(try await stream.collect().choices.first?.message.content ?? "")
        } catch {
            return .failure(error)
        }
    }

    /// A model that thinks for 3 s, three stall timeouts, before its first byte: with its head
    /// first (OpenAI, Gemini) or nothing at all. The answer comes, on the one request.
    @Test(arguments: [false, true])
    func aModelThatThinksBeforeItWritesIsNotStalled(headFirst: Bool) async throws {
        try await withScriptedServer(answering: { _ in
            let head = ScriptedServer.eventStreamHead()
            return headFirst ? [.send(head), .pause(seconds: 3), .send(ScriptedServer.openAIStream("considered answer"))]
                : [.pause(seconds: 3), .send(head + ScriptedServer.openAIStream("considered answer"))]
        }) { server in
            let answer = try await attempt(client(server, stallTimeout: 1), "think hard").get()
            #expect(answer == "considered answer", "\(server.log)")
            #expect(server.requests.count == 1)
        }
    }

    /// One request streams for 6 s (a line every 100 ms); the other waits 4 s in the queue, twice
    /// the stall timeout, with nothing (Ollama) or only its head (llama.cpp), then gets its answer.
    @Test(arguments: [false, true])
    func aRequestQueuedBehindAnotherStreamIsNotStalled(headFirst: Bool) async throws {
        try await withScriptedServer(answering: { request in
            if request.bodyText.contains("running") {
                return [.send(ScriptedServer.eventStreamHead()), .repeating([.send(Self.dot), .pause(seconds: 0.1)], times: 60),
                        .send(ScriptedServer.openAIStream("done"))]
            }
            let head = ScriptedServer.eventStreamHead()
            return headFirst ? [.send(head), .pause(seconds: 4), .send(ScriptedServer.openAIStream("queued answer"))]
                : [.pause(seconds: 4), .send(head + ScriptedServer.openAIStream("queued answer"))]
        }) { server in
            let client = client(server, stallTimeout: 2)
            async let running = attempt(client, "running")
            let queued = try await attempt(client, "queued").get()
            let ran = try await running.get()
            #expect(queued == "queued answer", "\(server.log)")
            #expect(ran.hasSuffix("done"))
            // Asked once: not stalled and asked again.
            #expect(server.requests.filter { $0.bodyText.contains("queued") }.count == 1)
        }
    }

    /// A request the server never answers (with its head, or not even that) ends as stalled at the
    /// first-byte timeout, which the message names, not at the stall timeout.
    @Test(arguments: [false, true])
    func noFirstByteEndsTheRequestAtTheFirstByteTimeout(headFirst: Bool) async throws {
        try await withScriptedServer(answering: { _ in
            headFirst ? [.send(ScriptedServer.eventStreamHead()), .pause(seconds: 600)] : [.pause(seconds: 600)]
        }) { server in
            let started = ContinuousClock.now
            let result = await attempt(client(server, stallTimeout: 0.5, firstByteTimeout: 3), "lost")
            let waited = ContinuousClock.now - started
            guard case .failure(let error) = result else { Issue.record("the lost request succeeded"); return }
            let failure = RequestFailure.classify(error)
            #expect(failure.kind == "stalled", "\(error)")
            #expect(failure.message.contains("no byte of an answer for 3 s since the request went out"), "\(failure.message)")
            #expect(failure.message.contains("first-byte timeout"), "\(failure.message)")
            #expect(failure.message.contains("only its head") == headFirst, "\(failure.message)")
            #expect(waited >= .seconds(3) && waited < .seconds(30), "stalled after \(waited)")
        }
    }

    /// Once the body began, the stall timeout rules again: a stream that sends its first chunk
    /// and then nothing stalls after one stall timeout, however long the first byte may take.
    @Test func silenceAfterTheFirstByteIsAStall() async throws {
        try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead()), .send(Self.dot), .pause(seconds: 600)]
        }) { server in
            let started = ContinuousClock.now
            let result = await attempt(client(server, stallTimeout: 1, firstByteTimeout: 600), "cut")
            let waited = ContinuousClock.now - started
            guard case .failure(let error) = result else { Issue.record("the silent stream succeeded"); return }
            let failure = RequestFailure.classify(error)
            #expect(failure.kind == "stalled", "\(error)")
            #expect(failure.message.contains("for 1 s") && failure.message.contains("bytes of the answer in"), "\(failure.message)")
            #expect(waited < .seconds(60), "stalled after \(waited)")
        }
    }
}
