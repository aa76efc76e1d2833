import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting

/// A `/v1/responses` batch line with `body` (JSON object text).
private func responsesLine(_ body: String, id: String = "r") -> String {
    #"{"custom_id":"\#(id)","method":"POST","url":"/v1/responses","body":\#(body)}"#
}

private func validated(_ line: String) -> Result<ValidatedJob, JobLineError> {
    JobLineValidator().validate(line: 7, bytes: Array(line.utf8))
}

private func problem(_ line: String) -> JobLineError? {
    if case .failure(let e) = validated(line) { return e }
    return nil
}

@Suite("Submit checks /v1/responses lines")
struct ResponsesLineTests {
    @Test func aResponsesLineIsAcceptedWithItsEndpointAndItsBodyAsSubmitted() throws {
        let body = #"{"model":"gpt-4.1-mini","input":"Name two moons of Mars.","instructions":"Be brief.","max_output_tokens":100}"#
        let job = try validated(responsesLine(body)).get()
        #expect(job.endpoint == .responses && job.requestText == body && job.model == "gpt-4.1-mini")
        // Message items, typed items, flat function tools, sampling and reasoning settings.
        let items = #"""
            {"model":"gpt-5","input":[{"role":"developer","content":"Terse."},{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]},
            {"type":"function_call_output","call_id":"call_1","output":"42"}],"tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}},{"type":"web_search"}],
            "tool_choice":"auto","temperature":0.2,"top_p":1,"reasoning":{"effort":"low"},"store":false,"metadata":{"k":"v"},"stream":true}
            """#.replacingOccurrences(of: "\n", with: "")
        let streamed = try validated(responsesLine(items)).get()
        #expect(!streamed.requestText.contains("\"stream\""), "the runner decides about streaming")
    }

    @Test func anInvalidBodyIsRefusedWithTheLineAndTheField() throws {
        let cases: [(body: String, field: String, code: String, message: String)] = [
            (#"{"model":"gpt-4.1"}"#, "body.input", "missing_required_parameter", "needs \"input\""),
            (#"{"model":"gpt-4.1","input":""}"#, "body.input", "invalid_value", "must not be an empty string"),
            (#"{"model":"gpt-4.1","input":[]}"#, "body.input", "invalid_value", "must not be an empty array"),
            (#"{"model":"gpt-4.1","input":42}"#, "body.input", "invalid_type", "found number"),
            (#"{"model":"gpt-4.1","input":[{"role":"usr","content":"Hi"}]}"#, "body.input[0].role", "invalid_value",
             #"unknown role "usr"; did you mean user?"#),
            (#"{"model":"gpt-4.1","input":[{"role":"user"}]}"#, "body.input[0].content", "missing_required_parameter", "needs \"content\""),
            (#"{"model":"gpt-4.1","input":["Hi"]}"#, "body.input[0]", "invalid_type", "expected an object"),
            (#"{"model":"gpt-4.1","messages":[{"role":"user","content":"Hi"}]}"#, "body.messages", "unknown_parameter", "takes \"input\""),
            (#"{"model":"gpt-4.1","input":"Hi","max_output_tokens":5}"#, "body.max_output_tokens", "invalid_value", "at least 16, found 5"),
            (#"{"model":"gpt-4.1","input":"Hi","max_output_tokens":"lots"}"#, "body.max_output_tokens", "invalid_type", "expected an integer"),
            (#"{"model":"gpt-4.1","input":"Hi","instructions":["a"]}"#, "body.instructions", "invalid_type", "expected a string"),
            (#"{"model":"gpt-4.1","input":"Hi","tools":[{"type":"function","function":{"name":"f"}}]}"#, "body.tools[0].function",
             "invalid_value", "flat"),
            (#"{"model":"gpt-4.1","input":"Hi","tools":[{"name":"f"}]}"#, "body.tools[0].type", "missing_required_parameter", "needs a \"type\""),
            (#"{"model":"gpt-4.1","input":"Hi","max_tokens":10}"#, "body.max_tokens", "unknown_parameter", "unknown Responses parameter"),
            (#"{"model":"gpt-4.1","input":"Hi","max_output_token":32}"#, "body.max_output_token", "unknown_parameter",
             "did you mean max_output_tokens?"),
        ]
        for c in cases {
            let e = try #require(problem(responsesLine(c.body)), "\(c.body)")
            #expect(e.line == 7 && e.field == c.field && e.code == c.code, "\(c.body): \(e)")
            #expect(e.message.contains(c.message), "\(c.body): \(e.message)")
        }
        // extra_body lets a newer parameter through, as for chat.
        #expect(problem(responsesLine(#"{"model":"gpt-4.1","input":"Hi","extra_body":{"brand_new":1}}"#)) == nil)
    }

    @Test(arguments: ["claude-sonnet-4-5", "gemini-2.5-flash"])
    func aModelOfAProviderWithoutTheResponsesAPIIsRefusedAtSubmit(model: String) throws {
        let e = try #require(problem(responsesLine(#"{"model":"\#(model)","input":"Hi"}"#)))
        #expect(e.line == 7 && e.field == "body.model" && e.code == "unsupported_endpoint")
        #expect(e.message.contains("which has no Responses API (/v1/responses)") && e.message.contains("/v1/chat/completions line"), "\(e.message)")
    }

    @Test func aMixedFileIsStoredWithEachLinesEndpoint() throws {
        let dir = TemporaryDirectory()
        let file = dir.url.appendingPathComponent("jobs.jsonl")
        let lines = [
            batchLine("chat"),
            responsesLine(#"{"model":"gpt-4.1-mini","input":"Hi"}"#, id: "resp"),
            responsesLine(#"{"model":"claude-haiku-4-5","input":"Hi"}"#, id: "claude"),
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let db = try dir.database()
        let error = try #require(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: file.path) }
        #expect(error.errors.map(\.line) == [3] && error.errors.map(\.field) == ["body.model"])
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
        try ([lines[0], lines[1]].joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        _ = try BatchSubmitter(database: db).submit(file: file.path)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE custom_id = 'chat' AND url = '/v1/chat/completions'") == 1)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE custom_id = 'resp' AND url = '/v1/responses'") == 1)
    }
}
