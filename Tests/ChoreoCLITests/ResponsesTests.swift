import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// An OpenAI Batch line for `/v1/responses`.
private func responsesLine(_ id: String, _ body: [String: JSONValue]) -> JSONValue {
    var body = body
    if body["model"] == nil { body["model"] = "gpt-4.1-mini" }
    return ["custom_id": .string(id), "method": "POST", "url": "/v1/responses", "body": .object(body)]
}

/// The mock's answer to `messages` (the conversation a Responses body makes: `instructions` as
/// the system turn, then `input`), cut at `maxTokens`.
private func expectedText(_ messages: [JSONValue], maxTokens: Int? = nil) -> String {
    MockContent.reply(model: "gpt-4.1-mini", messages: messages, maxTokens: maxTokens).text
}

@Suite("/v1/responses lines, run against the mock")
struct ResponsesTests {
    @Test func aMixedFileRunsAndExportsEachResponsesJobAsAResponseObject() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(lines: [
                ["custom_id": "chat", "model": "gpt-4o-mini", "messages": [["role": "user", "content": "Name two moons of Mars."]], "max_tokens": 20],
                responsesLine("text", ["input": "Name two moons of Mars.", "instructions": "Be brief.", "max_output_tokens": 40,
                                       "metadata": ["topic": "moons"]]),
                responsesLine("items", ["input": [["role": "user", "content": [["type": "input_text", "text": "What is 2+2?"]]]], "temperature": 0]),
                responsesLine("tool", ["input": "Weather in Paris?", "tools": [["type": "function", "name": "lookup", "parameters": ["type": "object"]]]]),
            ])
            let summary = try await fixture.run(server)
            #expect(summary.exitCode == 0 && summary.succeeded == 4, "\(summary)")
            let rows = try fixture.rows()
            let textExpected = expectedText([["role": "system", "content": "Be brief."], ["role": "user", "content": "Name two moons of Mars."]], maxTokens: 40)
            #expect(rows["chat"]?.output == fixture.expectedText("chat"))
            #expect(rows["text"]?.output == textExpected)
            #expect(rows["items"]?.output == expectedText([["role": "user", "content": "What is 2+2?"]]))
            #expect(rows["tool"]?.finish == "tool_calls")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE url = '/v1/responses' AND prompt_tokens > 0 AND completion_tokens > 0") == 3)
            // Three requests went to /v1/responses, one to chat.
            #expect(server.stats().requests == 4)

            let openai = try fixture.export(.openai)
            let body = try #require(openai["text"]?["response"]?["body"])
            #expect(openai["text"]?["response"]?["status_code"] == 200 && openai["text"]?["error"] == .null)
            #expect(body["object"] == "response" && body["status"] == "completed" && body["model"] == "gpt-4.1-mini")
            #expect(body["id"]?.stringValue?.hasPrefix("resp_") == true)
            // The provider's own object, verbatim: what only it knows (the mock's service tier,
            // its item ids) is there.
            #expect(body["service_tier"] == "default" && body["output"]?.arrayValue?.first?["id"]?.stringValue?.hasPrefix("msg_") == true)
            #expect(body["instructions"] == "Be brief." && body["max_output_tokens"] == 40 && body["metadata"] == ["topic": "moons"])
            let message = try #require(body["output"]?.arrayValue?.first)
            #expect(message["type"] == "message" && message["role"] == "assistant")
            #expect(message["content"]?.arrayValue?.first?["text"]?.stringValue == textExpected)
            let usage = try #require(body["usage"])
            #expect(usage["input_tokens_details"]?["cached_tokens"] == 2 && usage["output_tokens_details"]?["reasoning_tokens"] == 0)
            #expect(usage["input_tokens"]?.intValue.map { $0 + (usage["output_tokens"]?.intValue ?? 0) } == usage["total_tokens"]?.intValue)
            // A tool call is a function_call item; the chat line's body is still a chat.completion.
            let call = try #require(openai["tool"]?["response"]?["body"]?["output"]?.arrayValue?.first { $0["type"] == "function_call" })
            #expect(call["name"] == "lookup" && call["call_id"]?.stringValue?.hasPrefix("call_") == true)
            #expect(openai["chat"]?["response"]?["body"]?["object"] == "chat.completion")
            #expect(try fixture.export(.jsonl)["text"]?["url"] == "/v1/responses")
        }
    }

    /// The Responses API cannot continue a cut answer: the kept text stays until the job
    /// succeeds, and the next attempt restarts, saying why.
    @Test func aCutStreamKeepsItsPartialAndTheNextAttemptRestarts() async throws {
        try await withMockServer { server in
            let fixture = try Fixture(lines: [
                responsesLine("cut", ["input": "Describe the lighthouse", "mock": ["fault": "drop", "after": 4, "times": 1]]),
            ])
            let first = try await fixture.run(server) { $0.retry.maxAttempts = 1 }
            #expect(first.failed == 1)
            let expected = expectedText([["role": "user", "content": "Describe the lighthouse"]])
            let kept = try fixture.scalar("SELECT partial_output FROM partials", text: true)
            // The four pieces that arrived (less any trailing whitespace, which a restart writes again).
            let four = MockContent.tokens(model: "gpt-4.1-mini", messages: [["role": "user", "content": "Describe the lighthouse"]]).prefix(4).joined()
            #expect(!kept.isEmpty && four.hasPrefix(kept) && four.dropFirst(kept.count).allSatisfy(\.isWhitespace), "\(kept)")

            let queue = try JobQueue(path: fixture.databasePath, runnerID: "test")
            #expect(try await queue.resume(batch: fixture.batchID, all: false, retryableKinds: FailureKind.retryable) == 1)
            // Even where prefill is on (`--continue-partial`), the Responses API cannot take one.
            let second = try await fixture.run(server) { $0.continuePartial = true }
            #expect(second.exitCode == 0)
            #expect(try fixture.rows()["cut"]?.output == expected)
            #expect(try fixture.scalar("SELECT continuation FROM attempts WHERE number = 2", text: true) == "restart")
            #expect(try fixture.scalar("SELECT continuation_reason FROM attempts WHERE number = 2", text: true)
                    == "the Responses API has no way to continue a partial answer")
            #expect(try fixture.scalar("SELECT partial_output IS NULL FROM partials") == 1)
        }
    }

    @Test func anInStreamErrorFailsTheAttemptAsTheProvidersError() async throws {
        let stream = """
            event: response.created
            data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_E","object":"response","created_at":1,"status":"in_progress","model":"gpt-4.1-mini","output":[],"usage":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","sequence_number":1,"output_index":0,"content_index":0,"delta":"Partial"}

            event: error
            data: {"type":"error","error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You have no credits remaining.","param":null},"sequence_number":2}


            """
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        try await withScriptedServer(answering: { _ in [.send(head + stream)] }) { server in
            let fixture = try Fixture(lines: [responsesLine("quota", ["input": "Hi"])])
            let summary = try await BatchRunner(databasePath: fixture.databasePath, options: fixture.options { $0.retry.maxAttempts = 1 },
                                                router: ProviderRouter.fromEnvironment([:]).pointed(at: "http://127.0.0.1:\(server.port)")).run()
            #expect(summary.failed == 1)
            #expect(try fixture.scalar("SELECT error_kind FROM jobs", text: true) == "provider_error")
            #expect(try fixture.scalar("SELECT error_message FROM jobs", text: true).contains("You have no credits remaining."))
            #expect(try fixture.scalar("SELECT partial_output FROM partials", text: true) == "Partial")
            let request = try #require(server.requests.first)
            #expect(request.requestLine.hasPrefix("POST /v1/responses "))
            #expect(try JSONValue.parse(request.bodyText)["stream"] == true)
        }
    }
}
