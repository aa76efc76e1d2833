import Testing
@testable import ChoreoAI

@Suite("JSON values")
struct JSONValueTests {
    @Test(arguments: ["plain", "", "naïve 日本語 🎵 👩🏽‍🚀", "quote \" back\\slash", "line\nbreak\r\ttab", "\u{01}\u{1F}ctl", "\"\\\n", "é\"é", "\"\u{301}x", "a\n\u{301}\u{302}", "\r\n"])
    func stringsRoundTripThroughTheParser(text: String) throws {
        let encoded = JSONValue.quoted(text)
        #expect(try JSONValue.parse(encoded) == .string(text))
        #expect(!encoded.dropFirst().dropLast().contains("\n"))
    }

    @Test func escapesAreTheShortForms() {
        #expect(JSONValue.quoted("a\"b\\c\nd\u{01}") == #""a\"b\\c\nd\u0001""#)
    }

    @Test func objectsSerialiseWithSortedKeysAndParseBack() throws {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": ["nested": "x"], "c": -7]
        #expect(value.jsonString == #"{"a":{"nested":"x"},"b":[1,2.5,true,null],"c":-7}"#)
        #expect(try JSONValue.parse(value.jsonString) == value)
    }

    @Test(arguments: ["{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "01", "1.", "\"\\ud800\"", "[1] 2"])
    func invalidJSONIsRejectedWithAnOffset(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }
}
