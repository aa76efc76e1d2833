import Testing
@testable import ChoreoAI

/// Issue 12.8: per model, whether a cut stream may be continued by prefill.
@Suite("Prefill support per model")
struct PrefillSupportTests {
    @Test(arguments: [
        ("claude-sonnet-4-6", true), ("claude-opus-4-6", true), ("claude-opus-4-7", true), ("claude-opus-4-8-20260901", true),
        ("claude-sonnet-5", true), ("claude-opus-5-5", true), ("claude-sonnet-4-6@20260101", true),
        ("claude-sonnet-4-5", false), ("claude-sonnet-4-5-20250929", false), ("claude-opus-4-20250514", false),
        ("claude-opus-4-1", false), ("claude-haiku-4-5", false), ("claude-3-5-sonnet-20241022", false),
        ("claude-3-opus-20240229", false), ("gpt-4o-mini", false), ("mock-claude", false),
    ])
    func theBuiltInRuleKnowsClaude46AndLater(model: String, refused: Bool) {
        #expect(PrefillSupport.refusedByFamily(model: model) == refused)
    }

    @Test func configurationOverridesTheRuleAndTheProviderDefault() throws {
        let router = try ProviderConfiguration.router(parsing: Array(#"""
            {"providers": [{"name": "claude", "kind": "anthropic", "models": ["claude-*"],
                            "prefill": {"claude-opus-4-6": true, "claude-sonnet-*": false, "claude-sonnet-4-5-*": true}}]}
            """#.utf8), file: "choreo.json", environment: [:])
        let p = try #require(router.providers.first)
        #expect(p.prefillSupport(model: "claude-opus-4-6").allowed)  // configured over the built-in rule
        #expect(p.prefillSupport(model: "claude-opus-4-6").reason.contains("choreo.json"))
        #expect(!p.prefillSupport(model: "claude-sonnet-4-1").allowed)  // configured over the provider's default
        #expect(p.prefillSupport(model: "claude-sonnet-4-5-20250929").allowed)  // the longest pattern wins
        #expect(!p.prefillSupport(model: "claude-opus-4-7").allowed)  // not configured: the built-in rule
        #expect(p.prefillSupport(model: "claude-opus-4-7").reason.contains("built-in rule"))
        #expect(p.prefillSupport(model: "claude-haiku-4-5").allowed)  // not configured: Anthropic's default
    }

    @Test func aPrefillEntryThatIsNotABoolIsRejectedWithItsPath() {
        do {
            _ = try ProviderConfiguration.router(parsing: Array(#"""
                {"providers": [{"name": "x", "kind": "openai", "base_url": "http://h/v1", "models": ["m*"],
                                "prefill": {"m1": "yes"}}]}
                """#.utf8), file: "choreo.json", environment: [:])
            Issue.record("accepted")
        } catch let e as ConfigurationError {
            #expect("\(e)".contains("prefill.m1") && "\(e)".contains("true or false"), "\(e)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func onlyTheRefusal400IsARefusal() {
        func error(_ status: Int, _ message: String) -> APIError {
            APIError(status: status, type: "invalid_request_error", code: nil, message: message, retryAfter: nil, requestID: nil, provider: "anthropic")
        }
        #expect(PrefillSupport.isRefusal(error(400, "This model does not support assistant message prefill. The conversation must end with a user message.")))
        #expect(!PrefillSupport.isRefusal(error(400, "messages: final assistant content cannot end with trailing whitespace")))
        #expect(!PrefillSupport.isRefusal(error(500, "does not support assistant message prefill")))
    }
}
