import ChoreoAI
import Testing
@testable import ChoreoMock
import ChoreoTesting

/// The mock carries the fields real streams carry (wire-formats-2 §5.3) and keeps each
/// provider's own prefill rules.
@Suite struct MockWireFieldsTests {
    @Test func openAIChunksCarryServiceTierFingerprintAndObfuscationUnlessTurnedOff() async throws {
        try await withMockServer { server in
            let r = try await post(server, "/v1/chat/completions", Sample.openAI())
            let chunks = r.eventJSON.filter { $0["object"] == "chat.completion.chunk" }
            #expect(!chunks.isEmpty)
            for c in chunks {
                #expect(c["service_tier"] == "default")
                #expect(c["system_fingerprint"] == "fp_mock")
                #expect(c["obfuscation"]?.stringValue?.isEmpty == false)
            }
            let off = try await post(server, "/v1/chat/completions",
                                     Sample.openAI(extra: ["stream_options": ["include_obfuscation": false]]))
            #expect(off.eventJSON.allSatisfy { $0["obfuscation"] == nil })
            #expect(off.openAIText == r.openAIText)
        }
    }

    @Test func anOpenAICompatibleContinuationMayEndInASpaceButAnAnthropicPrefillMayNot() async throws {
        try await withMockServer { server in
            let reply = MockContent.reply(model: Sample.model, messages: Sample.messages, maxTokens: nil).text
            let cut = reply.firstIndex(of: " ").map { reply[...$0] }.map(String.init) ?? ""
            #expect(cut.hasSuffix(" "))
            let messages = Sample.messages + [["role": "assistant", "content": .string(cut)]]
            let r = try await post(server, "/v1/chat/completions",
                                   Sample.openAI(messages, extra: ["continue_final_message": true, "add_generation_prompt": false]))
            #expect(r.status == 200)
            #expect(cut + r.openAIText == reply)
            let anthropic = Sample.anthropic([["role": "user", "content": "Name two moons of Mars."], ["role": "assistant", "content": "Phobos "]])
            #expect(try await post(server, "/v1/messages", anthropic).status == 400)
        }
    }
}

@Suite struct MockParameterValidationTests {
    @Test func eachDialectRefusesAnUnknownParameterAsItsAPIDoes() async throws {
        try await withMockServer { server in
            let openAI = try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["max_tokenz": 5]))
            #expect(openAI.status == 400)
            #expect(openAI.json?["error"]?["message"] == "Unrecognized request argument supplied: max_tokenz")
            var anthropicBody = Sample.anthropic()
            anthropicBody["temprature"] = 1
            let anthropic = try await post(server, "/v1/messages", anthropicBody)
            #expect(anthropic.status == 400)
            #expect(anthropic.json?["error"]?["message"] == "temprature: Extra inputs are not permitted")
            var geminiBody = Sample.gemini()
            geminiBody["safetySetings"] = []
            let gemini = try await post(server, Sample.geminiPath, geminiBody)
            #expect(gemini.status == 400)
            #expect(gemini.json?["error"]?["status"] == "INVALID_ARGUMENT")
            // Known parameters pass.
            #expect(try await post(server, "/v1/chat/completions", Sample.openAI(extra: ["seed": 1, "top_k": 3])).status == 200)
        }
    }
}
