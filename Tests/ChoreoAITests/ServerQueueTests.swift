import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
@testable import ChoreoAI

/// A server of your own that runs fewer requests than it is sent (Ollama's `OLLAMA_NUM_PARALLEL`,
/// llama.cpp's `--parallel` slots, vLLM past its batch) holds the rest until a slot frees: Ollama
/// sends them nothing, llama.cpp and vLLM only the head. Such a request waits in the server's
/// queue while the server streams other answers; the stall rule took it for a dead server, and the
/// run asked it again at the back of the queue and called the provider unreachable.
@Suite("A server's queue")
struct ServerQueueTests {
    /// A line of an OpenAI stream with no finish: what the running request's slot sends.
    static let dot = #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"."},"finish_reason":null}]}"# + "\n\n"

    func client(_ server: ScriptedServer, stallTimeout: Double) -> ChoreoClient {
        var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        for i in router.providers.indices { router.providers[i].stallTimeout = stallTimeout }
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

    /// A request the server never answers, while it streams another for 30 s: a lost request, or
    /// a queue too long to wait out. It stalls after ten stall timeouts, not at the other
    /// stream's end.
    @Test func aQueuedRequestWaitsTenStallTimeoutsAtMost() async throws {
        try await withScriptedServer(answering: { request in
            if request.bodyText.contains("running") {
                return [.send(ScriptedServer.eventStreamHead()), .repeating([.send(Self.dot), .pause(seconds: 0.1)], times: 300)]
            }
            return [.pause(seconds: 600)]
        }) { server in
            let client = client(server, stallTimeout: 0.5)
            let runner = Task { await attempt(client, "running") }
            defer { runner.cancel() }
            let started = ContinuousClock.now
            let result = await attempt(client, "lost")
            let waited = ContinuousClock.now - started
            guard case .failure(let error) = result else { Issue.record("the lost request succeeded"); return }
            let failure = RequestFailure.classify(error)
            #expect(failure.kind == "stalled", "\(error)")
            #expect(failure.message.contains("while the server streamed other answers"), "\(failure.message)")
            #expect(waited >= .seconds(4.5) && waited < .seconds(25), "stalled after \(waited)")
        }
    }

    /// The other stream ends after 2 s and the server falls silent: the unanswered request stalls a
    /// stall timeout later, as any request does when nothing comes.
    @Test func aQueuedRequestStallsOnceItsServerFallsSilent() async throws {
        try await withScriptedServer(answering: { request in
            if request.bodyText.contains("running") {
                return [.send(ScriptedServer.eventStreamHead()), .repeating([.send(Self.dot), .pause(seconds: 0.1)], times: 20),
                        .send(ScriptedServer.openAIStream("done"))]
            }
            return [.pause(seconds: 600)]
        }) { server in
            let client = client(server, stallTimeout: 1)
            async let running = attempt(client, "running")
            let started = ContinuousClock.now
            let result = await attempt(client, "lost")
            let waited = ContinuousClock.now - started
            guard case .failure(let error) = result else { Issue.record("the lost request succeeded"); return }
            #expect(RequestFailure.classify(error).kind == "stalled", "\(error)")
            let ran = try await running.get()
            #expect(ran.hasSuffix("done"))
            #expect(waited < .seconds(8), "stalled after \(waited)")
        }
    }
}
