import ChoreoAI
import ChoreoBatch
import Testing

/// The request cache's key: the same for the same request however its JSON is written, different
/// for anything that can change the answer.
@Suite struct RequestKeyTests {
    static let base = #"{"model":"gpt-4o-mini","temperature":0,"max_tokens":50,"messages":[{"role":"user","content":"Name two moons of Mars."}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}]}"#
    static let endpoint = "openai https://api.openai.com/v1"

    static func key(_ text: String, endpoint: String = endpoint) -> RequestKey {
        RequestKey(requestText: text, endpoint: endpoint)!
    }

    /// A key is stored with every answer and matched by later runs: its value must not move
    /// between versions unless `RequestKey.version` does. Computed apart, by Python:
    /// `sha256("choreo-request-key-1\n" + endpoint + "\n" + json.dumps(body, sort_keys=True,
    /// separators=(",", ":"), ensure_ascii=False))`.
    @Test func theKeyIsTheSHA256OfTheVersionTheEndpointAndTheCanonicalBody() {
        #expect(Self.key(Self.base).value == "18614b61e22164ebd6702ba1fe4e5f980a1177a77425f2441b5c765fb5f01846")
    }

    @Test func keyOrderWhitespaceAndNumberSpellingDoNotMatter() {
        let reordered = #"""
            { "messages": [ { "content": "Name two moons of Mars.", "role": "user" } ],
              "tools": [{"function": {"parameters": {"properties": {"a": {"type": "string"}}, "type": "object"}, "name": "f"}, "type": "function"}],
              "max_tokens": 50.0, "temperature": 0.0, "model": "gpt-4o-mini" }
            """#
        #expect(Self.key(Self.base) == Self.key(reordered))
    }

    @Test func deliveryAndBookkeepingFieldsDoNotMatter() throws {
        var body = try JSONValue.parse(Self.base)
        for (field, value) in [("stream", JSONValue.bool(true)), ("stream_options", ["include_usage": true]), ("metadata", ["run": "7"]),
                               ("user", "u-1"), ("store", true), ("service_tier", "flex")] {
            body[field] = value
        }
        #expect(Self.key(Self.base) == RequestKey(body: body, endpoint: Self.endpoint))
    }

    @Test(arguments: [
        ("model", JSONValue.string("gpt-4o")),
        ("messages", [["role": "user", "content": "Name two moons of Jupiter."]]),
        ("messages", [["role": "system", "content": "Be brief."], ["role": "user", "content": "Name two moons of Mars."]]),
        ("temperature", 0.2),
        ("max_tokens", 51),
        ("top_p", 0.9),
        ("seed", 7),
        ("n", 2),
        ("stop", ["\n"]),
        ("tool_choice", "required"),
        ("tools", []),
        ("response_format", ["type": "json_object"]),
        ("logprobs", true),
        ("some_new_parameter", 1),
    ] as [(String, JSONValue)])
    func anythingThatCanChangeTheAnswerChangesTheKey(field: String, value: JSONValue) throws {
        var body = try JSONValue.parse(Self.base)
        body[field] = value
        #expect(RequestKey(body: body, endpoint: Self.endpoint) != Self.key(Self.base), "\(field)")
    }

    @Test func theSameRequestToAnotherServerIsAnotherKey() {
        #expect(Self.key(Self.base) != Self.key(Self.base, endpoint: "openai http://127.0.0.1:8080/v1"))
        #expect(Self.key(Self.base) != Self.key(Self.base, endpoint: "anthropic https://api.openai.com/v1"))
    }

    @Test func aRequestSamplesUnlessItsTemperatureIsZero() {
        #expect(!Self.key(Self.base).samples)
        #expect(Self.key(#"{"model":"m","messages":[]}"#).samples)
        #expect(Self.key(#"{"model":"m","messages":[],"temperature":0.7}"#).samples)
        #expect(!Self.key(#"{"model":"m","messages":[],"temperature":0.0}"#).samples)
    }

    @Test func theKeyIsAHexSHA256AndNoRequestIsNoKey() {
        let k = Self.key(Self.base)
        #expect(k.value.count == 64 && k.value.allSatisfy { $0.isHexDigit })
        #expect(RequestKey(requestText: "[1,2]", endpoint: Self.endpoint) == nil)
        #expect(RequestKey(requestText: "{", endpoint: Self.endpoint) == nil)
    }
}
