import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting

/// Choreo's per-job settings on a job line, `priority` and `timeout`: checked like every other
/// field (type, range), at the top level of an OpenAI Batch line only.
@Suite("A job line's priority and timeout")
struct JobSettingsValidationTests {
    static let body = #""body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}"#

    @Test(arguments: [
        (#"{"custom_id":"a",\#(body),"priority":"high"}"#, "priority", "invalid_type", "expected an integer, found string"),
        (#"{"custom_id":"a",\#(body),"priority":true}"#, "priority", "invalid_type", "expected an integer, found boolean"),
        (#"{"custom_id":"a",\#(body),"priority":1.5}"#, "priority", "invalid_value", "priority must be a whole number, found 1.5"),
        (#"{"custom_id":"a",\#(body),"priority":1000001}"#, "priority", "invalid_value",
         "priority must be from -1000000 to 1000000, found 1000001"),
        (#"{"custom_id":"a",\#(body),"priority":-1000001}"#, "priority", "invalid_value",
         "priority must be from -1000000 to 1000000, found -1000001"),
        (#"{"custom_id":"a",\#(body),"timeout":"60s"}"#, "timeout", "invalid_type", "expected a number of seconds, found string"),
        (#"{"custom_id":"a",\#(body),"timeout":0}"#, "timeout", "invalid_value",
         "timeout must be more than 0 and at most 86400 seconds (a day), found 0"),
        (#"{"custom_id":"a",\#(body),"timeout":-3}"#, "timeout", "invalid_value",
         "timeout must be more than 0 and at most 86400 seconds (a day), found -3"),
        (#"{"custom_id":"a",\#(body),"timeout":86401}"#, "timeout", "invalid_value",
         "timeout must be more than 0 and at most 86400 seconds (a day), found 86401"),
        (#"{"custom_id":"a",\#(body),"priorty":1}"#, "priorty", "unknown_field",
         #"unknown field of a batch line; did you mean priority? (body parameters go inside "body")"#),
    ])
    func wrongValuesAreRefusedWithTheirLineAndField(text: String, field: String, code: String, message: String) throws {
        let dir = TemporaryDirectory()
        // The bad line is line 2: the error names it.
        let path = dir.write("jobs.jsonl", lines: [JobPriorityTests.line("ok"), text])
        let error = try #require(throws: JobFileError.self) { try BatchSubmitter(database: try dir.database()).submit(file: path) }
        #expect(error.errors == [JobLineError(line: 2, field: field, code: code, message: message)])
        #expect(try dir.database().count("SELECT count(*) FROM jobs") == 0, "nothing is stored")
    }

    @Test func theEdgesOfTheRangesAreAccepted() throws {
        let validator = JobLineValidator()
        for (text, priority, timeout) in [
            (#"{"custom_id":"a",\#(Self.body),"priority":1000000,"timeout":86400}"#, 1_000_000, 86_400.0),
            (#"{"custom_id":"a",\#(Self.body),"priority":-1000000,"timeout":0.25}"#, -1_000_000, 0.25),
            (#"{"custom_id":"a",\#(Self.body),"priority":4.0}"#, 4, nil),
        ] as [(String, Int, Double?)] {
            let job = try validator.validate(line: 1, bytes: Array(text.utf8)).get()
            #expect(job.priority == priority && job.timeout == timeout, "\(text)")
            #expect(!job.requestText.contains("priority") && !job.requestText.contains("timeout"), "Choreo's settings are not sent")
        }
    }

    /// In the short form every top-level field but custom_id is a request parameter, and a
    /// server's `priority` means something else (vLLM: lower runs first): refused, saying where
    /// Choreo's goes. The same in a batch line's body.
    @Test(arguments: [
        (#"{"custom_id":"a","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"priority":3}"#, "priority"),
        (#"{"custom_id":"a","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"timeout":60}"#, "timeout"),
        (#"{"custom_id":"a","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"priority":3}}"#, "body.priority"),
    ])
    func aSettingAmongTheRequestParametersSaysWhereItBelongs(text: String, field: String) throws {
        let error = try #require(throws: JobLineError.self) { try JobLineValidator().validate(line: 4, bytes: Array(text.utf8)).get() }
        #expect(error.line == 4 && error.field == field && error.code == "unknown_parameter")
        #expect(error.message.contains("goes at the top level of an OpenAI Batch line, next to custom_id and body"), "\(error)")
        #expect(error.message.contains(field.hasSuffix("priority") ? "submit --priority" : "run --timeout"), "\(error)")

        // Let through as a request parameter, it is one: sent to the provider, not Choreo's setting.
        let passed = try JobLineValidator(allowUnknownParams: true).validate(line: 4, bytes: Array(text.utf8)).get()
        #expect(passed.priority == nil && passed.timeout == nil)
        #expect(passed.requestText.contains(field.hasSuffix("priority") ? #""priority":3"# : #""timeout":60"#))
    }
}
