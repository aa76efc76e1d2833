import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting

/// An embeddings batch line with `body` (JSON object text).
private func embeddingsLine(_ body: String) -> String {
    #"{"custom_id":"e","method":"POST","url":"/v1/embeddings","body":\#(body)}"#
}

/// What submit says about line 4 of a file: the job it accepts, or its one error.
private func validated(_ line: String) -> Result<ValidatedJob, JobLineError> {
    JobLineValidator().validate(line: 4, bytes: Array(line.utf8))
}

private func problem(_ line: String) -> JobLineError? {
    if case .failure(let e) = validated(line) { return e }
    return nil
}

@Suite("Submit checks /v1/embeddings lines")
struct EmbeddingsLineTests {
    @Test func anEmbeddingsLineIsAcceptedWithItsEndpointAndItsBodyAsSubmitted() throws {
        let body = #"{"model":"text-embedding-3-small","input":["alpha","beta"],"dimensions":256,"encoding_format":"float"}"#
        let job = try validated(embeddingsLine(body)).get()
        #expect(job.endpoint == .embeddings)
        #expect(job.requestText == body)
        #expect(job.model == "text-embedding-3-small")
        // A chat line is still a chat line, and so is a short-form one.
        #expect(try validated(batchLine("c")).get().endpoint == .chatCompletions)
        #expect(try validated(#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}"#).get().endpoint == .chatCompletions)
        // Gemini embeds too, with its own task type.
        #expect(problem(embeddingsLine(#"{"model":"gemini-embedding-001","input":"alpha","taskType":"RETRIEVAL_DOCUMENT"}"#)) == nil)
    }

    @Test func anInvalidInputIsRefusedWithTheLineAndTheField() throws {
        let cases: [(body: String, field: String, code: String, message: String)] = [
            (#"{"model":"text-embedding-3-small"}"#, "body.input", "missing_required_parameter", "needs \"input\""),
            (#"{"model":"text-embedding-3-small","input":""}"#, "body.input", "invalid_value", "must not be an empty string"),
            (#"{"model":"text-embedding-3-small","input":[]}"#, "body.input", "invalid_value", "must not be an empty array"),
            (#"{"model":"text-embedding-3-small","input":["a",""]}"#, "body.input[1]", "invalid_value", "must not be an empty string"),
            (#"{"model":"text-embedding-3-small","input":["a",[1,2]]}"#, "body.input[1]", "invalid_type", "not token ids"),
            (#"{"model":"text-embedding-3-small","input":{"text":"a"}}"#, "body.input", "invalid_type", "found object"),
            (#"{"model":"text-embedding-3-small","input":"a","dimensions":0}"#, "body.dimensions", "invalid_value", "positive integer"),
            (#"{"model":"text-embedding-3-small","input":"a","dimensions":"8"}"#, "body.dimensions", "invalid_type", "expected an integer"),
            (#"{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}"#, "body.encoding_format", "invalid_value",
             #"must be "float" or "base64""#),
        ]
        for c in cases {
            let e = try #require(problem(embeddingsLine(c.body)), "\(c.body)")
            #expect(e.line == 4 && e.field == c.field && e.code == c.code, "\(c.body): \(e)")
            #expect(e.message.contains(c.message), "\(c.body): \(e.message)")
        }
        // More inputs than one request of the provider takes: 2,048 for OpenAI, 100 for Gemini.
        let many = "[" + (0..<101).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
        #expect(problem(embeddingsLine(#"{"model":"text-embedding-3-small","input":\#(many)}"#)) == nil)
        let gemini = try #require(problem(embeddingsLine(#"{"model":"gemini-embedding-001","input":\#(many)}"#)))
        #expect(gemini.field == "body.input" && gemini.message.contains("at most 100 inputs per request, found 101"))
    }

    @Test func unknownParametersAndChatParametersAreRefusedForEmbeddings() throws {
        let typo = try #require(problem(embeddingsLine(#"{"model":"text-embedding-3-small","input":"a","dimension":8}"#)))
        #expect(typo.field == "body.dimension" && typo.code == "unknown_parameter")
        #expect(typo.message.hasPrefix("unknown embeddings parameter; did you mean dimensions?"))
        // A chat parameter means nothing to an embeddings endpoint.
        let chat = try #require(problem(embeddingsLine(#"{"model":"text-embedding-3-small","input":"a","temperature":0}"#)))
        #expect(chat.field == "body.temperature" && chat.code == "unknown_parameter")
        // And messages are not an embeddings input.
        let messages = try #require(problem(embeddingsLine(#"{"model":"text-embedding-3-small","messages":[{"role":"user","content":"a"}]}"#)))
        #expect(messages.field == "body.input")
        // Gemini takes no user.
        let user = try #require(problem(embeddingsLine(#"{"model":"gemini-embedding-001","input":"a","user":"u1"}"#)))
        #expect(user.field == "body.user" && user.code == "unsupported_parameter")
        // extra_body lets a server's own parameter through, as for chat.
        #expect(problem(embeddingsLine(#"{"model":"bge-m3","input":"a","extra_body":{"truncate_prompt_tokens":512}}"#)) == nil)
    }

    @Test func aModelWhoseProviderCannotEmbedIsRefusedAtSubmit() throws {
        let e = try #require(problem(embeddingsLine(#"{"model":"claude-sonnet-4-5","input":"a"}"#)))
        #expect(e.line == 4 && e.field == "body.model" && e.code == "unsupported_endpoint")
        #expect(e.message.contains("routes to anthropic, which has no embeddings endpoint"))
        let url = try #require(problem(#"{"custom_id":"e","url":"/v1/embedding","body":{"model":"text-embedding-3-small","input":"a"}}"#))
        #expect(url.field == "url" && url.code == "url_mismatch" && url.message.contains(#""/v1/embeddings""#))
    }

    @Test func aRefusedFileNamesEveryBadEmbeddingsLineAndStoresNothing() throws {
        let dir = TemporaryDirectory()
        let file = dir.url.appendingPathComponent("jobs.jsonl")
        let lines = [
            batchLine("chat"),
            embeddingsLine(#"{"model":"text-embedding-3-small","input":"fine"}"#).replacingOccurrences(of: #""e""#, with: #""ok""#),
            embeddingsLine(#"{"model":"claude-haiku-4-5","input":"a"}"#).replacingOccurrences(of: #""e""#, with: #""claude""#),
            embeddingsLine(#"{"model":"text-embedding-3-small","input":[""]}"#).replacingOccurrences(of: #""e""#, with: #""empty""#),
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let db = try dir.database()
        let error = try #require(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: file.path) }
        #expect(error.errors.map(\.line) == [3, 4])
        #expect(error.errors.map(\.field) == ["body.model", "body.input[0]"])
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
        // Without the bad lines, the file is stored with each line's endpoint.
        try ([lines[0], lines[1]].joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        _ = try BatchSubmitter(database: db).submit(file: file.path)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE custom_id = 'chat' AND url = '/v1/chat/completions'") == 1)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE custom_id = 'ok' AND url = '/v1/embeddings'") == 1)
    }
}
