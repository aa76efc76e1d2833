import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// An OpenAI Batch line for `/v1/embeddings`.
private func embeddingsLine(_ id: String, model: String = "text-embedding-3-small", input: JSONValue, dimensions: Int? = 4,
                            extra: [String: JSONValue] = [:]) -> JSONValue {
    var body: [String: JSONValue] = ["model": .string(model), "input": input]
    if let dimensions { body["dimensions"] = .int(Int64(dimensions)) }
    for (k, v) in extra { body[k] = v }
    return ["custom_id": .string(id), "method": "POST", "url": "/v1/embeddings", "body": .object(body)]
}

/// A chat line in short form.
private func chatLine(_ id: String, _ prompt: String, model: String = "gpt-4o-mini") -> JSONValue {
    ["custom_id": .string(id), "model": .string(model), "messages": [["role": "user", "content": .string(prompt)]], "max_tokens": 20]
}

extension Fixture {
    /// Each job's stored vectors (packed float32 decoded) and dimensions, by custom_id.
    func embeddings() throws -> [String: (values: [Float], dimensions: Int?)] {
        var out: [String: (values: [Float], dimensions: Int?)] = [:]
        try Database(path: databasePath, readOnly: true).query(
            "SELECT custom_id, embedding, dimensions, typeof(embedding) FROM jobs WHERE url = '/v1/embeddings'") { row in
            #expect(row.string(3) == "blob" || row.string(3) == "null", "vectors are stored as a BLOB, never as text")
            out[row.string(0)!] = (row.blob(1).flatMap { Embeddings.values(float32LittleEndian: $0) } ?? [], row.int(2))
        }
        return out
    }

    /// The export of this batch in `format`, one parsed JSON object per job, by custom_id.
    func export(_ format: ExportFormat) throws -> [String: JSONValue] {
        let path = directory.appendingPathComponent("out-\(format.rawValue).jsonl").path
        let writer = try BufferedWriter(path: path)
        try ResultExporter(database: try Database(path: databasePath)).export(batch: batchID, format: format, to: writer)
        try writer.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        return Dictionary(uniqueKeysWithValues: lines.map { ($0["custom_id"]!.stringValue!, $0) })
    }
}

/// The mock's vectors of `texts`, one after another.
private func expected(_ texts: [String], dimensions: Int = 4) -> [Float] {
    texts.flatMap { MockEmbeddings.vector(for: $0, dimensions: dimensions) }
}

/// A JSON array of numbers as float32 values (each read as the number it prints).
private func floats(_ value: JSONValue?) -> [Float]? {
    value?.arrayValue?.map { Float($0.doubleValue ?? .nan) }
}

@Suite("/v1/embeddings lines, run against the mock")
struct EmbeddingsTests {
    @Test func aMixedFileRunsEndToEndWithTheMocksExactVectors() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(lines: [
            chatLine("chat-1", "Name two moons of Mars."),
            embeddingsLine("one", input: "The quick brown fox"),
            chatLine("chat-2", "What is 2+2?", model: "claude-haiku-4-5"),
            embeddingsLine("two", input: ["alpha", "beta gamma"]),
            embeddingsLine("packed", input: "packed float32", extra: ["encoding_format": "base64"]),
        ])
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 0 && summary.succeeded == 5, "\(summary)")
        let rows = try fixture.rows()
        for id in ["chat-1", "chat-2"] { #expect(rows[id]?.output == fixture.expectedText(id)) }
        // The vectors are the mock's, exactly, float32 for float32, in input order.
        let stored = try fixture.embeddings()
        #expect(stored["one"]?.values == expected(["The quick brown fox"]))
        #expect(stored["two"]?.values == expected(["alpha", "beta gamma"]))
        #expect(stored["packed"]?.values == expected(["packed float32"]))
        #expect(stored.values.allSatisfy { $0.dimensions == 4 })
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE url = '/v1/embeddings' AND output IS NULL AND state = 'succeeded'") == 3)
        // Two chat streams and two embeddings requests: "one" and "two" share one (same model and
        // parameters), "packed" asks for another encoding and goes alone.
        #expect(server.stats().requests == 4)
        // The shared request's 7 tokens (4 + 1 + 2 words) are shared out by input bytes (19 : 15),
        // and priced per input token.
        #expect(try fixture.scalar("SELECT prompt_tokens FROM jobs WHERE custom_id = 'one'") == 4)
        #expect(try fixture.scalar("SELECT prompt_tokens FROM jobs WHERE custom_id = 'two'") == 3)
        #expect(try fixture.scalar("SELECT prompt_tokens FROM jobs WHERE custom_id = 'packed'") == 2)
        let cost = Double(try fixture.scalar("SELECT cost_usd FROM jobs WHERE custom_id = 'one'", text: true)) ?? 0
        let price = 4 * 0.02 / 1_000_000
        #expect(abs(cost - price) < 1e-15, "\(cost)")
        // `status` counts them as jobs like any other.
        try fixture.expectCountsMatchJobs()
        #expect(try fixture.scalar("SELECT jobs FROM batch_counts WHERE state = 'succeeded'") == 5)

        // jsonl: the vector of a string input, the list of vectors of an array, as JSON numbers.
        let jsonl = try fixture.export(.jsonl)
        #expect(floats(jsonl["one"]?["embedding"]) == expected(["The quick brown fox"]))
        #expect(jsonl["two"]?["embedding"]?.arrayValue?.map { floats($0)! } == [expected(["alpha"]), expected(["beta gamma"])])
        #expect(jsonl["one"]?["dimensions"] == 4 && jsonl["one"]?["url"] == "/v1/embeddings")
        #expect(jsonl["chat-1"]?["embedding"] == .null && jsonl["chat-1"]?["url"] == "/v1/chat/completions")

        // openai: the Batch API's embeddings body, floats unless the request asked for base64.
        let openai = try fixture.export(.openai)
        let body = try #require(openai["two"]?["response"]?["body"])
        #expect(openai["two"]?["response"]?["status_code"] == 200 && openai["two"]?["error"] == .null)
        #expect(body["object"] == "list" && body["model"] == "text-embedding-3-small")
        #expect(body["usage"] == ["prompt_tokens": 3, "total_tokens": 3])
        let data = try #require(body["data"]?.arrayValue)
        #expect(data.map { $0["object"] } == ["embedding", "embedding"] && data.map { $0["index"] } == [0, 1])
        #expect(data.map { floats($0["embedding"])! } == [expected(["alpha"]), expected(["beta gamma"])])
        let packed = try #require(openai["packed"]?["response"]?["body"]?["data"]?.arrayValue?.first?["embedding"]?.stringValue)
        #expect(Data(base64Encoded: packed).flatMap { Embeddings.values(float32LittleEndian: $0) } == expected(["packed float32"]))
        #expect(openai["chat-1"]?["response"]?["body"]?["object"] == "chat.completion")

        // `choreo show`: the dimensions and the first values.
        let shown = try JobDetail.load(try Database(path: fixture.databasePath, readOnly: true), job: "two").rendered()
        #expect(shown.contains("embedding\n2 vectors × 4 dimensions\n  #0 [\(expected(["alpha"]).map(\.description).joined(separator: ", "))]"), "\(shown)")
        #expect(shown.contains("(/v1/embeddings)"))
        }
    }

    @Test func embeddingsJobsOfOneModelShareRequestsOfAtMost512Inputs() async throws {
        try await withMockServer { server in
        let texts = (0..<600).map { "text number \($0)" }
        let fixture = try Fixture(lines: texts.enumerated().map { embeddingsLine(String(format: "e-%04d", $0.offset), input: .string($0.element)) })
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 0 && summary.succeeded == 600, "\(summary)")
        // 600 jobs of one string each: 512 in the first request, 88 in the second.
        #expect(server.stats().requests == 2)
        #expect(server.stats().billedPromptTokens == 600 * 3)
        let stored = try fixture.embeddings()
        let wrong = texts.enumerated().filter { stored[String(format: "e-%04d", $0.offset)]?.values != expected([$0.element]) }
        #expect(wrong.isEmpty, "\(wrong.count) jobs have the wrong vectors, e.g. \(wrong.prefix(3))")
        }
    }

    /// A request held by its provider's rate limit waits in its own task; the progress counts it
    /// waiting, not in flight, as it does a chat job.
    @Test func aRequestHeldAtItsProvidersGateIsCountedWaiting() async throws {
        try await withMockServer { server in
        // Two models, two requests; one request a minute.
        let fixture = try Fixture(lines: [embeddingsLine("a", input: "one"), embeddingsLine("b", model: "text-embedding-3-large", input: "two")])
        let events = RunEvents()
        let runner = BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.requestsPerMinute = 1 },
                                 router: Fixture.router(server), events: events)
        let run = Task { try await runner.run() }
        defer { run.cancel() }
        try await eventually("one request answered, the other held by the limit") {
            let s = events.snapshot
            return s.succeeded == 1 && s.waiting == 1 && s.inFlight == 0
        }
        run.cancel()
        #expect(try await run.value.ending == .interrupted)
        #expect(server.stats().requests == 1)
        #expect(events.snapshot.waiting == 0, "a request given back is no longer waiting")
        }
    }

    @Test func jobsWithOtherParametersOrModelsGoInOtherRequests() async throws {
        try await withMockServer { server in
        let fixture = try Fixture(lines: [
            embeddingsLine("a", input: "one"), embeddingsLine("b", input: "two"),
            embeddingsLine("c", input: "three", dimensions: 8), embeddingsLine("d", input: "four", dimensions: 8),
            embeddingsLine("e", model: "text-embedding-3-large", input: "five"),
            embeddingsLine("f", input: "six", extra: ["user": "u-1"]),
        ])
        #expect(try await fixture.run(server).exitCode == 0)
        // (a, b), (c, d), e and f: four requests.
        #expect(server.stats().requests == 4)
        let stored = try fixture.embeddings()
        #expect(stored["d"]?.values == expected(["four"], dimensions: 8) && stored["d"]?.dimensions == 8)
        #expect(stored["e"]?.values == expected(["five"]))
        }
    }

    @Test(arguments: ["429", "500"])
    func aFailedEmbeddingsRequestIsRetriedWholeAndItsJobsShareTheRetry(fault: String) async throws {
        try await withMockServer { server in
        // The mock fails the first attempt of this request (the body's `mock`), then answers.
        let mock: JSONValue = ["fault": .string(fault), "times": 1]
        let fixture = try Fixture(lines: ["x", "y", "z"].map { embeddingsLine($0, input: .string("retry \($0)"), extra: ["mock": mock]) })
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 0 && summary.succeeded == 3, "\(summary)")
        // One failed request and its retry, the three jobs together both times (the same
        // request again: the mock counts the attempt, and spares the second).
        #expect(server.stats().requests == 2)
        #expect(server.stats().faultsByKind[fault] == 1)
        let kind = fault == "429" ? "rate_limited" : "server_error"
        #expect(try fixture.scalar("""
            SELECT count(*) FROM attempts WHERE number = 1 AND outcome = 'retry' AND error_kind = '\(kind)' AND http_status = \(fault)
            """) == 3)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE number = 2 AND outcome = 'succeeded'") == 3)
        #expect(try fixture.embeddings()["y"]?.values == expected(["retry y"]))
        }
    }

    @Test func aRequestRefusedAsAWholeIsSplitUntilTheBadJobFailsAlone() async throws {
        try await withMockServer { server in
        // One input longer than the model takes: the mock (as OpenAI) refuses any request with it.
        let long = Array(repeating: "word", count: MockEmbeddings.maxInputTokens + 1).joined(separator: " ")
        let fixture = try Fixture(lines: [
            embeddingsLine("a", input: "fine one"), embeddingsLine("b", input: "fine two"),
            embeddingsLine("c", input: "fine three"), embeddingsLine("long", input: .string(long)),
        ])
        let summary = try await fixture.run(server)
        #expect(summary.exitCode == 1 && summary.succeeded == 3 && summary.failed == 1, "\(summary)")
        let stored = try fixture.embeddings()
        for (id, text) in [("a", "fine one"), ("b", "fine two"), ("c", "fine three")] { #expect(stored[id]?.values == expected([text])) }
        // The long one failed alone, on its own request; every shared request it was in ended as
        // `split`, which costs no attempt.
        let db = try Database(path: fixture.databasePath, readOnly: true)
        var outcomes: [String] = []
        try db.query("SELECT a.outcome, a.error_kind FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.custom_id = 'long' ORDER BY a.number") {
            outcomes.append("\($0.string(0) ?? "") \($0.string(1) ?? "")")
        }
        #expect(outcomes.last == "failed bad_request" && outcomes.dropLast().allSatisfy { $0 == "split bad_request" } && outcomes.count >= 2,
                "\(outcomes)")
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE custom_id = 'long' AND error_kind = 'bad_request' AND error_message LIKE '%maximum context length%'") == 1)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE outcome = 'failed'") == 1)
        }
    }

    @Test func aBudgetBoundsEmbeddingsJobsByTheirInputAlone() async throws {
        try await withMockServer { server in
        // No max_tokens, and none needed: an embeddings job has no output to bound.
        let fixture = try Fixture(lines: (0..<3).map { embeddingsLine("b-\($0)", input: .string("budget text \($0)")) })
        let summary = try await fixture.run(server) { $0.budget = 0.01 }
        #expect(summary.exitCode == 0 && summary.succeeded == 3, "\(summary)")
        // Spent: 9 tokens (3 words each) at $0.02 per million.
        let spent = Double(try fixture.scalar("SELECT sum(cost_usd) FROM batch_costs", text: true)) ?? 0
        let price = 9 * 0.02 / 1_000_000
        #expect(abs(spent - price) < 1e-15, "\(spent)")
        // A model without a price cannot run under a budget, embeddings or not.
        let unpriced = try Fixture(lines: [embeddingsLine("u", model: "my-embedder", input: "x")])
        await #expect(throws: RunError.self) { _ = try await unpriced.run(server) { $0.budget = 0.01 } }
        }
    }

    @Test func geminiEmbeddingsGoInRequestsOfAtMost100() async throws {
        try await withMockServer { server in
        let texts = (0..<150).map { "gemini text \($0)" }
        let fixture = try Fixture(lines: texts.enumerated().map {
            embeddingsLine("g-\($0.offset)", model: "gemini-embedding-001", input: .string($0.element), extra: ["taskType": "RETRIEVAL_DOCUMENT"])
        })
        #expect(try await fixture.run(server).exitCode == 0)
        #expect(server.stats().requests == 2)
        let stored = try fixture.embeddings()
        #expect(texts.enumerated().allSatisfy { stored["g-\($0.offset)"]?.values == expected([$0.element]) })
        // Gemini reports no usage: the jobs' prompt tokens are unknown, and their charge an estimate.
        #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE prompt_tokens IS NULL") == 150)
        #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE usage_estimated = 1") == 150)
        let body = try #require(try fixture.export(.openai)["g-7"]?["response"]?["body"])
        #expect(body["model"] == "gemini-embedding-001" && body["usage"] == nil)
        #expect(floats(body["data"]?.arrayValue?.first?["embedding"]) == expected(["gemini text 7"]))
        }
    }
}
