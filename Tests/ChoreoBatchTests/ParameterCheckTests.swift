import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting

/// The one error `line` (short-form JSON) gets at submit, or nil when it is accepted.
private func problem(_ line: String, validator: JobLineValidator = JobLineValidator()) -> JobLineError? {
    if case .failure(let e) = validator.validate(line: 7, bytes: Array(line.utf8)) { return e }
    return nil
}

@Suite("Submit refuses what a provider cannot honour")
struct ParameterCheckTests {
    @Test func anUnknownParameterIsRefusedWithItsLineAndTheNearestName() throws {
        let e = try #require(problem(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokenz":5}"#))
        #expect(e.line == 7 && e.field == "max_tokenz" && e.code == "unknown_parameter")
        #expect(e.message.hasPrefix("unknown parameter; did you mean max_tokens?"))
        // Inside a batch line's body, and for each provider's own table.
        let b = try #require(problem(#"{"custom_id":"a","body":{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}],"temprature":1}}"#))
        #expect(b.field == "body.temprature" && b.message.contains("did you mean temperature?"))
        let g = try #require(problem(#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}],"safetySetings":[]}"#))
        #expect(g.message.contains("did you mean safetySettings?"))
    }

    @Test func unknownBatchLineFieldsAndRoleTyposAreRefused() throws {
        let top = try #require(problem(#"{"custom_id":"a","bdy":{},"body":{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}}"#))
        #expect(top.field == "bdy" && top.code == "unknown_field" && top.message.contains("did you mean body?"))
        let role = try #require(problem(#"{"model":"gpt-4o","messages":[{"role":"usr","content":"Hi"}]}"#))
        #expect(role.field == "messages[0].role" && role.message == #"unknown role "usr"; did you mean user?"#)
    }

    @Test func extraBodyAndTheFlagLetNewParametersThrough() throws {
        #expect(problem(#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"extra_body":{"brand_new":1}}"#) == nil)
        let line = #"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"brand_new":1}"#
        #expect(problem(line)?.code == "unknown_parameter")
        #expect(problem(line, validator: JobLineValidator(allowUnknownParams: true)) == nil)
        // A parameter the provider cannot take is refused even then.
        let seed = #"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}],"seed":3}"#
        #expect(problem(seed, validator: JobLineValidator(allowUnknownParams: true))?.code == "unsupported_parameter")
        #expect(problem(#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"extra_body":3}"#)?.code == "invalid_type")
    }

    @Test func aModelNameThatLooksLikeATypoOfARouteIsRefused() throws {
        let e = try #require(problem(#"{"model":"gemni-2.0-flash","messages":[{"role":"user","content":"Hi"}]}"#))
        #expect(e.code == "unknown_model")
        #expect(e.message.contains("did you mean gemini-2.0-flash (gemini)?") && e.message.contains("it would go to openai"))
        #expect(problem(#"{"model":"cluade-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]}"#)?.message.contains("claude-sonnet-4-5") == true)
        // Names far from every route go to the catch-all as before.
        #expect(problem(#"{"model":"llama-3.1-8b","messages":[{"role":"user","content":"Hi"}]}"#) == nil)
        #expect(problem(#"{"model":"gemma-3-27b","messages":[{"role":"user","content":"Hi"}]}"#) == nil)
    }

    @Test func anthropicRefusesWhatItCannotTakeAndTakesWhatMaps() throws {
        func anthropic(_ extra: String) -> JobLineError? {
            problem(#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}],"# + extra + "}")
        }
        #expect(anthropic(#""seed":1"#)?.message.contains("Anthropic has no seed") == true)
        #expect(anthropic(#""n":2"#)?.code == "unsupported_parameter")
        #expect(anthropic(#""n":1"#) == nil)
        #expect(anthropic(#""response_format":{"type":"json_object"}"#)?.code == "unsupported_parameter")
        #expect(anthropic(#""response_format":{"type":"json_schema","json_schema":{"name":"m","schema":{"type":"object"}}}"#) == nil)
        #expect(anthropic(#""logprobs":true"#)?.code == "unsupported_parameter")
        // Gemini maps seed and n.
        #expect(problem(#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}],"seed":1,"n":2}"#) == nil)
    }

    @Test func anthropicGetsResponseFormatAsOutputConfigFormatAndOnlyTheUserIDOfMetadata() throws {
        let body: JSONValue = [
            "model": "claude-sonnet-4-5", "messages": [["role": "user", "content": "Hi"]],
            "response_format": ["type": "json_schema", "json_schema": ["name": "m", "schema": ["type": "object"]]],
            "metadata": ["user_id": "u1", "team": "x"], "extra_body": ["top_k": 5],
        ]
        let provider = ProviderRouter.fromEnvironment([:]).provider(for: "claude-sonnet-4-5")!
        let request = try AnthropicWire().makeRequest(body, provider: provider, stream: true)
        let sent = try JSONValue.parse(request.body)
        #expect(sent["output_config"] == ["format": ["type": "json_schema", "schema": ["type": "object"]]])
        #expect(sent["response_format"] == nil)
        #expect(sent["metadata"] == ["user_id": "u1"])
        #expect(sent["top_k"] == 5 && sent["extra_body"] == nil)
    }

    @Test func metadataIsKeptAndExported() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [
            #"{"custom_id":"a","metadata":{"run":"nightly"},"body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}}"#,
            #"{"custom_id":"b","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"metadata":{"k":"v"}}"#,
        ])
        let db = try dir.database()
        let id = try BatchSubmitter(database: db).submit(file: path).batchID
        // A batch line's own metadata is not part of the body that is sent.
        #expect(try db.count("SELECT count(*) FROM jobs_readable WHERE custom_id = 'a' AND request NOT LIKE '%nightly%'") == 1)
        let writer = try BufferedWriter(path: dir.file("out"))
        try ResultExporter(database: db).export(batch: id, format: .jsonl, to: writer)
        try writer.flush()
        let lines = try dir.read("out").split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.map { $0["metadata"]! } == [["run": "nightly"], ["k": "v"]])
    }
}
