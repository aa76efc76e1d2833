import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

@Suite("A batch across OpenAI, Anthropic and Gemini")
struct MixedProvidersTests {
    @Test func threeHundredJobsAcrossThreeProvidersEndExactWithUsageAndFinishReasons() async throws {
        try await withMockServer(config: MockConfig(faultRate: 0.2, maxFaultsPerRequest: 2, seed: 3, retryAfterMs: 50)) { server in
            let models = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]
            // Every fifth job is cut by max_tokens, so both finish reasons are exercised per provider.
            let fixture = try Fixture(lines: (0..<300).map { i in
                var o: [String: JSONValue] = [
                    "custom_id": .string("mix-\(i)"), "model": .string(models[i % 3]),
                    "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": .string("Mixed question \(i)")]],
                ]
                if i % 5 == 0 { o["max_tokens"] = 6 }
                return .object(o)
            })
            let summary = try await fixture.run(server) { $0.continuePartial = true; $0.stallTimeout = Fixture.stallFaults }
            #expect(summary.exitCode == 0)
            try fixture.expectAllExact()
            for model in models {
                // Finish reasons are normalised to OpenAI's values; the raw value is kept.
                #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = '\(model)' AND finish_reason = 'length'") == 20)
                #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = '\(model)' AND finish_reason = 'stop'") == 80)
                #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model = '\(model)' AND prompt_tokens > 0 AND completion_tokens > 0") == 100)
            }
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model LIKE 'claude%' AND provider_finish_reason IN ('end_turn', 'max_tokens')") == 100)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE model LIKE 'gemini%' AND provider_finish_reason IN ('STOP', 'MAX_TOKENS')") == 100)
            // The max_tokens jobs report exactly their budget as completion tokens.
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE finish_reason = 'length' AND completion_tokens = 6") == 60)
        }
    }
}
