import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoSQLite
import ChoreoTesting
import Foundation
import ChoreoLocking
import Testing

/// One chunk of an `n: 2` stream: `choices` is the JSON of its choices array's items.
private func choicesEvent(_ choices: String, usage: String = "") -> String {
    #"data: {"id":"chatcmpl-n","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[\#(choices)]\#(usage)}"# + "\n\n"
}

@Suite("Several choices (n > 1) cut mid-stream")
struct SeveralChoicesCutTests {
    /// A prefill continues one answer, so `continue_final_message` on an `n: 2` request would
    /// continue choice 0's text in both choices. The cut job restarts instead, and says why.
    @Test func aCutStreamOfSeveralChoicesRestartsRatherThanContinueOneChoicesText() async throws {
        let calls = Locked(0)
        let bodies = Locked([String]())
        try await withScriptedServer(answering: { request in
            bodies.withLock { $0.append(request.bodyText) }
            let n = calls.withLock { $0 += 1; return $0 }
            var s = ScriptedServer.eventStreamHead()
            s += choicesEvent(#"{"index":0,"delta":{"role":"assistant","content":"Phobos and"},"finish_reason":null}"#)
            s += choicesEvent(#"{"index":1,"delta":{"role":"assistant","content":"Deimos is"},"finish_reason":null}"#)
            if n == 1 { return [.send(s)] }  // cut inside both answers
            s += choicesEvent(#"{"index":0,"delta":{"content":" Deimos."},"finish_reason":"stop"}"#)
            s += choicesEvent(#"{"index":1,"delta":{"content":" small."},"finish_reason":"stop"}"#)
            s += choicesEvent("", usage: #","usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12}"#)
            return [.send(s + "data: [DONE]\n\n")]
        }) { server in
            let fixture = try Fixture(lines: [["custom_id": "n2", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "Moons?"]], "n": 2]])
            let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.continuePartial = true },
                                                router: router).run()
            #expect(summary.exitCode == 0)
            let db = try Database(path: fixture.databasePath, readOnly: true)
            let row = try #require(try db.queryOne("SELECT output, response, attempts FROM jobs") { ($0.string(0), $0.string(1), $0.int(2)) })
            #expect(row.0 == "Phobos and Deimos.")
            #expect(row.2 == 2)
            let choices = try JSONValue.parse(try #require(row.1))["choices"]?.arrayValue
            #expect(choices?.map { $0["message"]?["content"] } == ["Phobos and Deimos.", "Deimos is small."])
            #expect(try db.queryOne("SELECT continuation FROM attempts WHERE number = 2") { $0.string(0) } == "restart")
            #expect(try db.queryOne("SELECT continuation_reason FROM attempts WHERE number = 2") { $0.string(0) }
                    == "n is 2: a prefill continues one choice, not every one")
            let second = try JSONValue.parse(try #require(bodies.withLock { $0.last }))
            #expect(second["continue_final_message"] == nil && second["messages"]?.arrayValue?.count == 1)
        }
    }

    /// An answer of several choices cut for good keeps every choice's text, not only the first:
    /// `partial_choices` beside `partial_output`, and in the jsonl export.
    @Test func aCutAnswerOfSeveralChoicesKeepsEveryChoicesText() async throws {
        try await withScriptedServer(answering: { _ in
            var s = ScriptedServer.eventStreamHead()
            s += choicesEvent(#"{"index":0,"delta":{"role":"assistant","content":"Phobos and"},"finish_reason":null}"#)
            s += choicesEvent(#"{"index":1,"delta":{"role":"assistant","content":"Deimos is "},"finish_reason":null}"#)
            return [.send(s)]  // cut inside both answers, every time
        }) { server in
            let fixture = try Fixture(lines: [["custom_id": "n2", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "Moons?"]], "n": 2]])
            let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.retry = RetryPolicy(maxAttempts: 1) },
                                                router: router).run()
            #expect(summary.failed == 1)
            let db = try Database(path: fixture.databasePath, readOnly: true)
            let row = try #require(try db.queryOne("SELECT partial_output, partial_choices FROM partials") { ($0.string(0), $0.string(1)) })
            #expect(row.0 == "Phobos and")
            #expect(row.1 == #"["Phobos and","Deimos is "]"#)

            let out = try await ChoreoBinary.run(["results", fixture.batchID, "--db", fixture.databasePath, "--format", "jsonl"])
            let line = try JSONValue.parse(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(line["partial_output"] == "Phobos and")
            #expect(line["partial_choices"] == ["Phobos and", "Deimos is "])
        }
    }

    /// While an answer of several choices streams, the partial flushes write every choice's text;
    /// a run stopped then gives the job back with them.
    @Test func theFlushesOfAStreamOfSeveralChoicesWriteEveryChoice() async throws {
        try await withScriptedServer(answering: { _ in
            var s = ScriptedServer.eventStreamHead()
            s += choicesEvent(#"{"index":0,"delta":{"role":"assistant","content":"Phobos and"},"finish_reason":null}"#)
            s += choicesEvent(#"{"index":1,"delta":{"role":"assistant","content":"Deimos is"},"finish_reason":null}"#)
            return [.send(s), .pause(seconds: 600)]  // then nothing, while the test looks
        }) { server in
            let fixture = try Fixture(lines: [["custom_id": "n2", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "Moons?"]], "n": 2]])
            let router = ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")
            let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.stallTimeout = 600 }, router: router)
            let run = Task { try await runner.run() }
            defer { run.cancel() }
            let db = try Database(path: fixture.databasePath, readOnly: true)
            try await eventually("both choices are flushed") {
                try db.queryOne("SELECT partial_choices FROM partials") { $0.string(0) } == #"["Phobos and","Deimos is"]"#
            }
            run.cancel()
            #expect(try await run.value.ending == .interrupted)
            #expect(try db.queryOne("SELECT state || ' ' || partial_choices FROM partials") { $0.string(0) } == #"pending ["Phobos and","Deimos is"]"#)
        }
    }
}

