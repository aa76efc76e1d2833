import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Testing

@Suite("Mock Responses API")
struct ResponsesMockTests {
    @Test func aStreamIsTheResponsesEventSequenceEndingWithoutDone() async throws {
        try await withMockServer { server in
            let body: JSONValue = ["model": "gpt-4.1-mini", "input": "Name two moons.", "instructions": "Be brief.", "stream": true]
            let r = try await post(server, "/v1/responses", body)
            #expect(r.status == 200 && r.header("content-type") == "text/event-stream")
            let events = r.eventJSON
            let types = events.compactMap { $0["type"]?.stringValue }
            #expect(Array(types.prefix(4)) == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"])
            #expect(Array(types.suffix(4)) == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"])
            // The `event:` name repeats `data.type`; sequence numbers count from 0; no [DONE].
            #expect(r.events.map(\.type) == types)
            #expect(events.map { $0["sequence_number"]?.intValue } == events.indices.map { $0 })
            #expect(!String(decoding: r.body, as: UTF8.self).contains("[DONE]"))
            // The text is what chat gives the same conversation; each delta carries obfuscation.
            let deltas = events.filter { $0["type"] == "response.output_text.delta" }
            let messages: [JSONValue] = [["role": "system", "content": "Be brief."], ["role": "user", "content": "Name two moons."]]
            #expect(deltas.compactMap { $0["delta"]?.stringValue }.joined() == MockContent.reply(model: "gpt-4.1-mini", messages: messages, maxTokens: nil).text)
            #expect(deltas.allSatisfy { $0["obfuscation"]?.stringValue != nil })
            let done = try #require(events.last?["response"])
            #expect(done["status"] == "completed" && done["object"] == "response")
            #expect(done["usage"]?["output_tokens"]?.intValue == deltas.count && done["usage"]?["input_tokens_details"]?["cached_tokens"] == 2)
            #expect(done["output"]?.arrayValue?.first?["content"]?.arrayValue?.first?["text"]?.stringValue
                    == deltas.compactMap { $0["delta"]?.stringValue }.joined())
        }
    }

    @Test func aCapOfOutputTokensEndsTheStreamIncomplete() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/responses", ["model": "gpt-4.1-mini", "input": "Hi", "max_output_tokens": 16, "stream": true,
                                                              "stream_options": ["include_obfuscation": false]])
            let last = try #require(r.eventJSON.last)
            let tokens = MockContent.tokens(model: "gpt-4.1-mini", messages: [["role": "user", "content": "Hi"]])
            if tokens.count > 16 {
                #expect(last["type"] == "response.incomplete" && last["response"]?["incomplete_details"]?["reason"] == "max_output_tokens")
            } else {
                #expect(last["type"] == "response.completed")
            }
            #expect(r.eventJSON.allSatisfy { $0["obfuscation"] == nil })
        }
    }

    @Test func theMockRefusesWhatTheResponsesAPIRefuses() async throws {
        try await withMockServer { server async throws in
            func message(_ body: JSONValue) async throws -> String {
                let r = try await post(server, "/v1/responses", body)
                #expect(r.status == 400, "\(body)")
                #expect(r.json?["error"]?["type"] == "invalid_request_error")
                return r.json?["error"]?["message"]?.stringValue ?? ""
            }
            #expect(try await message(["model": "m", "input": "a", "max_tokens": 20]) == "Unknown parameter: 'max_tokens'.")
            #expect(try await message(["model": "m", "messages": [["role": "user", "content": "a"]]]) == "Unknown parameter: 'messages'.")
            #expect(try await message(["model": "m"]) == "Missing required parameter: 'input'.")
            #expect(try await message(["model": "m", "input": "a", "max_output_tokens": 8]).contains("Expected a value >= 16, but got 8 instead."))
            #expect(try await message(["model": "m", "input": [["role": "usr", "content": "a"]]]).hasPrefix("Invalid value: 'usr'."))
            #expect(try await message(["model": "m", "input": "a", "tools": [["type": "function", "function": ["name": "f"]]]])
                    == "Missing required parameter: 'tools[0].name'.")
        }
    }

    @Test func aFunctionToolIsCalledWithArgumentsDeltas() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/responses", ["model": "m", "input": "Weather?", "stream": true,
                                                              "tools": [["type": "function", "name": "lookup", "parameters": ["type": "object"]]]])
            let events = r.eventJSON
            let added = try #require(events.first { $0["type"] == "response.output_item.added" }?["item"])
            #expect(added["type"] == "function_call" && added["name"] == "lookup")
            var deltas: [JSONValue] = []
            for e in events where e["type"]?.stringValue == "response.function_call_arguments.delta" { deltas.append(e) }
            let arguments = deltas.map { $0["delta"]?.stringValue ?? "" }.joined()
            #expect(deltas.count >= 3)
            #expect(events.first { $0["type"] == "response.function_call_arguments.done" }?["arguments"]?.stringValue == arguments)
            #expect((try? JSONValue.parse(arguments))?["query"] != nil)
        }
    }

    @Test func aFaultCutsTheStreamBeforeItsTerminalEvent() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/responses", ["model": "m", "input": "Tell me a story.", "stream": true, "mock": ["fault": "drop", "after": 2]])
            let types = r.eventJSON.compactMap { $0["type"]?.stringValue }
            #expect(types.filter { $0 == "response.output_text.delta" }.count == 2)
            #expect(!types.contains("response.completed"))
        }
    }
}
