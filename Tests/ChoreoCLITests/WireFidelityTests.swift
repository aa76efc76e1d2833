import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing
import ChoreoSQLite

/// The `openai` export of a run against the mock, one line per job, keyed by custom_id.
private func openAIExport(_ fixture: Fixture) throws -> [String: JSONValue] {
    let path = fixture.directory.appendingPathComponent("out.jsonl").path
    let writer = try BufferedWriter(path: path)
    try ResultExporter(database: try Database(path: fixture.databasePath)).export(batch: fixture.batchID, format: .openai, to: writer)
    try writer.flush()
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    return Dictionary(uniqueKeysWithValues: lines.map { ($0["custom_id"]!.stringValue!, $0) })
}

@Suite("Wire fidelity: what the provider said is kept")
struct WireFidelityTests {
    @Test func anHTTPFailureExportsTheProvidersOwnErrorObjectAndItsStatus() async throws {
        try await withMockServer(config: MockConfig(faultRate: 1, faultKinds: [.quota], maxFaultsPerRequest: 100)) { server in
        let fixture = try Fixture(lines: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"].map { model in
            ["custom_id": .string(model), "model": .string(model), "messages": [["role": "user", "content": "Hello"]]]
        })
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 1)
        let lines = try openAIExport(fixture)
        for model in ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"] {
            let response = lines[model]?["response"]
            #expect(response?["status_code"] == 429, "\(model)")
            #expect(lines[model]?["error"] == .null)
            #expect(response?["request_id"]?.stringValue?.isEmpty == false, "\(model): request_id must be a string")
        }
        // Each provider's object as it sent it: no Choreo kind ("quota") inside it.
        let openAI = lines["gpt-4o-mini"]!["response"]!["body"]!["error"]!
        #expect(openAI["code"] == "insufficient_quota")
        #expect(openAI["type"] == "insufficient_quota")
        #expect(openAI["message"] == "You exceeded your current quota, please check your plan and billing details (mock).")
        let anthropic = lines["claude-sonnet-4-5"]!["response"]!["body"]!["error"]!
        #expect(anthropic["type"] == "rate_limit_error")
        #expect(anthropic["details"]?["error_code"] == "enforced_spend_limit_reached")
        let gemini = lines["gemini-2.5-flash"]!["response"]!["body"]!["error"]!
        #expect(gemini["status"] == "RESOURCE_EXHAUSTED")
        #expect(gemini["code"] == 429)
        // Choreo's classification stays in its own columns.
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE error_kind = 'quota' AND error_body IS NOT NULL") >= 1)
    }
    }

    @Test func requestIDIsNeverNullInTheExport() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(count: 3, models: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"])
        #expect(try await fixture.run(server).exitCode == 0)
        let db = try Database(path: fixture.databasePath)
        // Gemini sends no request-id header: its responseId is kept instead.
        #expect(try fixture.scalar("SELECT request_id FROM jobs WHERE custom_id = 'job-00002'", text: true).hasPrefix("r-"))
        try db.run("UPDATE jobs SET request_id = NULL WHERE custom_id = 'job-00000'")
        let lines = try openAIExport(fixture)
        for (customID, line) in lines {
            #expect(line["response"]?["request_id"]?.stringValue?.isEmpty == false, "\(customID)")
        }
        let id = try fixture.scalar("SELECT id FROM jobs WHERE custom_id = 'job-00000'")
        #expect(lines["job-00000"]?["response"]?["request_id"] == .string("choreo-\(id)-1"))
    }
    }

    /// An attempt's `chars_received` counts what SQLite's `length()` (and Python's `len()`)
    /// count: Unicode code points. A thumbs-up with a skin tone and an `e` with a combining
    /// accent are one character each to Swift's `String.count` (grapheme clusters), two each here.
    @Test func charsReceivedCountsCodePointsAsSQLiteLengthDoes() async throws {
        let text = "\u{1F44D}\u{1F3FD} e\u{301}t\u{E9} \u{4E2D}\u{6587}"
        try await withScriptedServer(answering: { _ in [.send(ScriptedServer.eventStreamHead() + ScriptedServer.openAIStream(text))] }) { server in
        let fixture = try Fixture(count: 1)
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
        #expect(try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options(), router: router).run().exitCode == 0)
        #expect(try fixture.scalar("SELECT output FROM jobs", text: true) == text)
        #expect(try fixture.scalar("SELECT chars_received FROM attempts") == text.unicodeScalars.count)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts JOIN jobs ON jobs.id = job_id WHERE chars_received = length(output)") == 1)
    }
    }
}

/// A recorded-style OpenAI-compatible stream (DeepSeek / vLLM shapes, wire-formats-2 §3.1, §5):
/// reasoning deltas first, then content with per-token logprobs, for two choices (`n: 2`).
private func reasoningStream() -> String {
    func event(_ choices: String, usage: String = "") -> String {
        #"data: {"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","system_fingerprint":"fp_1","choices":[\#(choices)]\#(usage)}"# + "\n\n"
    }
    func token(_ t: String, _ lp: Double) -> String {
        #"{"content":[{"token":"\#(t)","logprob":\#(lp),"bytes":null,"top_logprobs":[]}],"refusal":null}"#
    }
    var s = ScriptedServer.eventStreamHead(["x-request-id: req_r1"])
    s += event(#"{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}"#)
    s += event(#"{"index":0,"delta":{"content":null,"reasoning_content":"Mars has "},"logprobs":null,"finish_reason":null}"#)
    s += event(#"{"index":0,"delta":{"content":null,"reasoning_content":"two moons."},"logprobs":null,"finish_reason":null}"#)
    s += event(#"{"index":1,"delta":{"role":"assistant","reasoning":"Think."},"logprobs":null,"finish_reason":null}"#)
    s += event(#"{"index":0,"delta":{"content":"Phobos"},"logprobs":\#(token("Phobos", -0.1)),"finish_reason":null}"#)
    s += event(#"{"index":1,"delta":{"content":"Deimos"},"logprobs":\#(token("Deimos", -0.3)),"finish_reason":null}"#)
    s += event(#"{"index":0,"delta":{"content":" and Deimos"},"logprobs":\#(token(" and Deimos", -0.2)),"finish_reason":"stop"}"#)
    s += event(#"{"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"}"#)
    s += event("", usage: #","usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}"#)
    return s + "data: [DONE]\n\n"
}

@Suite("Wire fidelity: reasoning, logprobs and every choice")
struct ReasoningAndChoicesTests {
    @Test func reasoningHasItsOwnColumnAndLogprobsAndEveryChoiceAreKept() async throws {
        try await withScriptedServer(answering: { _ in [.send(reasoningStream())] }) { server in
        let fixture = try Fixture(lines: [[
            "custom_id": "r", "model": "deepseek-reasoner", "messages": [["role": "user", "content": "Moons of Mars?"]],
            "logprobs": true, "n": 2,
        ]])
        let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
        let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options(), router: router).run()
        #expect(summary.exitCode == 0)
        let db = try Database(path: fixture.databasePath, readOnly: true)
        let row = try #require(try db.queryOne("SELECT output, reasoning, response, request_id FROM jobs") {
            ($0.string(0), $0.string(1), $0.string(2), $0.string(3))
        })
        #expect(row.0 == "Phobos and Deimos")  // the output holds no reasoning
        #expect(row.1 == "Mars has two moons.")
        #expect(row.3 == "req_r1")
        let response = try JSONValue.parse(try #require(row.2))
        let choices = try #require(response["choices"]?.arrayValue)
        #expect(choices.count == 2)
        #expect(choices[1]["message"]?["content"] == "Deimos")
        #expect(choices[1]["message"]?["reasoning_content"] == "Think.")
        #expect(choices[0]["message"]?["reasoning_content"] == "Mars has two moons.")
        let tokens = choices[0]["logprobs"]?["content"]?.arrayValue?.compactMap { $0["token"]?.stringValue }
        #expect(tokens == ["Phobos", " and Deimos"])
        #expect(choices[1]["logprobs"]?["content"]?.arrayValue?.count == 1)
        // And the openai export carries the same body.
        let line = try openAIExport(fixture)["r"]
        #expect(line?["response"]?["body"]?["choices"]?.arrayValue?.count == 2)
    }
    }
}

/// One chunk of a DeepSeek-style reasoning stream, with the id of its response.
private func reasonerEvent(_ id: String, _ delta: String, _ finish: String = "null") -> String {
    #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(finish)}]}"# + "\n\n"
}

/// The usage chunk and the end of a DeepSeek-style stream.
private func reasonerEnd(_ id: String, prompt: Int, completion: Int) -> String {
    #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[],"usage":{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"#
        + "\n\ndata: [DONE]\n\n"
}

@Suite("Wire fidelity: a cut inside reasoning")
struct CutInsideReasoningTests {
    /// Runs one job (`custom_id` c) against a server whose attempt `n` (from 1) sends `stream(n)`,
    /// continuing cut answers where it can; returns the job's database once the run succeeded.
    private func run(_ stream: @escaping @Sendable (Int) -> String) async throws -> Fixture {
        let calls = Locked(0)
        return try await withScriptedServer(answering: { _ in
            [.send(ScriptedServer.eventStreamHead() + stream(calls.withLock { $0 += 1; return $0 }))]
        }) { server in
            let fixture = try Fixture(lines: [["custom_id": "c", "model": "deepseek-reasoner", "messages": [["role": "user", "content": "Moons?"]]]])
            let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.continuePartial = true },
                                                router: router).run()
            #expect(summary.exitCode == 0)
            return fixture
        }
    }

    @Test func aStreamCutInsideReasoningRestartsAndKeepsOneCopyOfTheReasoning() async throws {
        let fixture = try await run { n in
            var s = reasonerEvent("chatcmpl-c", #"{"role":"assistant","content":null,"reasoning_content":"First I "}"#)
            s += reasonerEvent("chatcmpl-c", #"{"content":null,"reasoning_content":"count the moons."}"#)
            // The first attempt is cut inside the reasoning: the connection closes mid-stream.
            if n == 1 { return s }
            return s + reasonerEvent("chatcmpl-c", #"{"content":"Two."}"#, #""stop""#) + reasonerEnd("chatcmpl-c", prompt: 4, completion: 7)
        }
        let db = try Database(path: fixture.databasePath, readOnly: true)
        let row = try #require(try db.queryOne("SELECT output, reasoning, attempts FROM jobs") { ($0.string(0), $0.string(1), $0.int(2)) })
        #expect(row.0 == "Two.")
        #expect(row.1 == "First I count the moons.")
        #expect(row.2 == 2)
        // Nothing of the answer was kept, so the second attempt started over (no prefill of reasoning).
        #expect(try db.queryOne("SELECT continuation FROM attempts WHERE number = 2") { $0.string(0) } ?? nil == nil)
    }

    /// The reasoning was complete and the answer had begun when the stream was cut: the answer is
    /// continued from its kept text, and the reasoning paid for in the first attempt is kept with it.
    @Test func aStreamCutAfterItsReasoningKeepsTheReasoningWhenTheAnswerIsContinued() async throws {
        let fixture = try await run { n in
            if n == 1 {
                return reasonerEvent("chatcmpl-d", #"{"role":"assistant","content":null,"reasoning_content":"First I "}"#)
                    + reasonerEvent("chatcmpl-d", #"{"content":null,"reasoning_content":"count the moons."}"#)
                    + reasonerEvent("chatcmpl-d", #"{"content":"Phobos and"}"#)  // cut inside the answer
            }
            // The continuation (continue_final_message) goes on with the answer only.
            return reasonerEvent("chatcmpl-d", #"{"role":"assistant","content":" Deimos."}"#, #""stop""#)
                + reasonerEnd("chatcmpl-d", prompt: 4, completion: 3)
        }
        let db = try Database(path: fixture.databasePath, readOnly: true)
        let row = try #require(try db.queryOne("SELECT output, reasoning, attempts, response FROM jobs") {
            ($0.string(0), $0.string(1), $0.int(2), $0.string(3))
        })
        #expect(row.0 == "Phobos and Deimos.")
        #expect(row.1 == "First I count the moons.")
        #expect(row.2 == 2)
        #expect(try db.queryOne("SELECT continuation FROM attempts WHERE number = 2") { $0.string(0) } == "continue_final_message")
        let message = try JSONValue.parse(try #require(row.3))["choices"]?.arrayValue?.first?["message"]
        #expect(message?["reasoning_content"] == "First I count the moons.")
    }
}
