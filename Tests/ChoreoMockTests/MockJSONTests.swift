import ChoreoAI
@testable import ChoreoMock
import Testing

/// The mock reads and writes JSON with its own code (Foundation's parser, a writer of its own), not
/// ChoreoAI's: these check that code on the cases that tell types apart and that need escapes.
@Suite struct MockJSONTests {
    @Test func readsBooleansIntegersAndFractionsAsTheirOwnTypes() throws {
        let json = try #require(MockJSON(parsing: #"{"t":true,"f":false,"one":1,"zero":0,"half":0.5,"five":5.0,"big":1e3,"none":null}"#.utf8))
        #expect(json["t"] == .bool(true) && json["f"] == .bool(false))
        #expect(json["one"] == .int(1) && json["zero"] == .int(0))
        #expect(json["one"]?.boolValue == nil, "1 is a number, not true")
        #expect(json["half"] == .double(0.5))
        #expect(json["five"]?.intValue == 5 && json["big"]?.intValue == 1000)
        #expect(json["none"] == .null)
        #expect(MockJSON(parsing: #"{"a": broken"#.utf8) == nil)
    }

    @Test func writesSortedKeysAndEscapesWhatJSONRequires() throws {
        let value: MockJSON = ["b": [1, .double(2.5), nil, true], "a": .string("q\"b\\n\nr\rt\t\u{1}é🎵")]
        #expect(value.text == #"{"a":"q\"b\\n\nr\rt\t\u0001é🎵","b":[1,2.5,null,true]}"#)
        // The other side of the wire reads it back as the same value.
        #expect(try JSONValue.parse(value.text) == ["a": "q\"b\\n\nr\rt\t\u{1}é🎵", "b": [1, 2.5, nil, true]])
        #expect(MockJSON(parsing: value.bytes) == value)
    }
}
