import Testing
@testable import ChoreoAI
@testable import ChoreoHTTP

/// `HeaderFields` keeps its fields in one byte block; the API is that of a list of pairs.
@Suite("HTTP headers")
struct HeaderFieldsTests {
    @Test func fieldsKeepTheirOrderAndBytes() {
        let long = String(repeating: "v", count: 300)  // a length over 127 takes two bytes
        var h = HeaderFields([("Content-Type", "text/event-stream"), ("x-empty", ""), ("x-long", long)])
        h.add(name: "X-RateLimit-Remaining-Requests", value: "499")
        h.add(name: "x-unicode", value: "café 🎵")
        #expect(h.fields.map(\.name) == ["Content-Type", "x-empty", "x-long", "X-RateLimit-Remaining-Requests", "x-unicode"])
        #expect(h.fields.map(\.value) == ["text/event-stream", "", long, "499", "café 🎵"])
        #expect(h.count == 5)
        #expect(Array(h).count == 5)
    }

    @Test func lookupIgnoresASCIICaseAndTakesTheFirst() {
        let h = HeaderFields([("Retry-After", "3"), ("retry-after", "4"), ("x-request-id", "req_1")])
        #expect(h["retry-after"] == "3")
        #expect(h["RETRY-AFTER"] == "3")
        #expect(h["X-Request-ID"] == "req_1")
        #expect(h["retry"] == nil)
        #expect(h["missing"] == nil)
        #expect(HeaderFields()["anything"] == nil)
    }

    @Test func equalityAndCompaction() {
        var a = HeaderFields([("a", "1"), ("b", "2")])
        let b = HeaderFields([("a", "1"), ("b", "2")])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != HeaderFields([("b", "2"), ("a", "1")]))
        a.compact()
        #expect(a == b)
        #expect(a.fields.map(\.value) == ["1", "2"])
    }

    @Test func requestIDIsOpenAIsOrAnthropics() {
        #expect(HeaderFields([("X-Request-Id", "req_1"), ("request-id", "req_2")]).requestID == "req_1")
        #expect(HeaderFields([("request-id", "req_2")]).requestID == "req_2")
        #expect(HeaderFields().requestID == nil)
    }

    @Test func aKeyIsMissingOnlyForARemoteProviderThatTakesOne() {
        var p = Provider(name: "p", kind: .openAI, baseURL: "https://api.example.com/v1", apiKeyVariable: "P_KEY")
        #expect(p.missingKeyVariable == "P_KEY")
        p.apiKey = "k"
        #expect(p.missingKeyVariable == nil)
        #expect(Provider(name: "l", kind: .openAI, baseURL: "http://127.0.0.1:8000/v1", apiKeyVariable: "P_KEY").missingKeyVariable == nil)
        #expect(Provider(name: "n", kind: .openAI, baseURL: "https://api.example.com/v1").missingKeyVariable == nil)
    }
}
