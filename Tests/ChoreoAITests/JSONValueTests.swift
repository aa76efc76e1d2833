import Foundation
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

    /// Text with nothing to escape is copied whole; text with escapes anywhere (first, last,
    /// several in a row, between non-ASCII) is escaped exactly as byte-by-byte would, by both
    /// writers: into a `String` (`quoted`, the exports) and into UTF-8 bytes (`jsonString`).
    @Test(arguments: ["no escapes at all, naïve 日本語 🎵", String(repeating: "long clean text ", count: 200),
                      "\"first", "last\\", "mid\n\n\ndle", "é\u{1}日", String(repeating: "x", count: 5000) + "\"",
                      "\u{7F}\u{80} are not control bytes for JSON",
                      String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) })) + "every control byte"])
    func writingEscapesOnlyWhatJSONNeeds(text: String) throws {
        let encoded = JSONValue.quoted(text)
        #expect(try JSONValue.parse(encoded) == .string(text))
        #expect(JSONValue.string(text).jsonString == encoded)
        #expect(JSONValue.object([text: [.string(text), 1]]).jsonString == "{\(encoded):[\(encoded),1]}")
        var expected = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": expected += "\\\""
            case "\\": expected += "\\\\"
            case "\n": expected += "\\n"
            case "\r": expected += "\\r"
            case "\t": expected += "\\t"
            case _ where scalar.value < 0x20: expected += String(format: "\\u%04x", scalar.value)
            default: expected.unicodeScalars.append(scalar)
            }
        }
        #expect(encoded == expected + "\"")
    }

    /// The eight-bytes-at-a-time scans give what a byte-by-byte loop gives: every byte value at
    /// every position of a word (and of the tail after the last whole word), in runs of every
    /// length from 0 to 24, alone and followed by more bytes that end a run (the first must win).
    @Test func plainRunsAndASCIIAreFoundAsByteByByte() {
        func plainEnd(_ b: [UInt8], from k: Int) -> Int { b[k...].firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 } ?? b.count }
        let cases = (0...255).flatMap { value in [UInt8(ascii: "a"), 0x5C, 0x01].map { after in (UInt8(value), after) } }
        for length in 0...24 {
            for position in 0..<max(length, 1) {
                for (value, after) in cases {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    if position < length {
                        bytes[position] = value
                        for k in (position + 1)..<length { bytes[k] = after }
                    }
                    for from in [0, min(1, length), min(3, length)] {
                        let (run, ascii) = bytes.withUnsafeBufferPointer { buf in
                            let p = buf.baseAddress ?? UnsafePointer(bitPattern: 1)!
                            return (JSONEscapes.plainRunEnd(p, from: from, end: length), JSONEscapes.isASCII(p, from: from, end: length))
                        }
                        if run != plainEnd(bytes, from: from) || ascii != bytes[from...].allSatisfy({ $0 < 0x80 }) {
                            Issue.record("length \(length), byte \(value) at \(position), then \(after), from \(from): run end \(run), ascii \(ascii)")
                            return
                        }
                    }
                }
            }
        }
    }

    /// `JSONEscapes.isValidUTF8` and `string` accept exactly what `String(validating:)` accepts:
    /// every sequence of one and two bytes, every lead byte with two more (and each four-byte lead
    /// with three more) taken from the edges of each range, where overlong forms, surrogates and
    /// the end of Unicode lie; each alone, followed by ASCII and after it.
    @Test func utf8IsValidatedAsTheStandardLibraryDoes() {
        let edges: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF,
                              0xF0, 0xF4, 0xF5, 0xFF]
        var cases: [[UInt8]] = [[]]
        for a in 0...255 {
            cases.append([UInt8(a)])
            for b in 0...255 { cases.append([UInt8(a), UInt8(b)]) }
            for b in edges {
                for c in edges {
                    cases.append([UInt8(a), b, c])
                    if a >= 0xF0 { for d in edges { cases.append([UInt8(a), b, c, d]) } }  // only these lead four bytes
                }
            }
        }
        cases += ["café", "naïve 🎵", "日本語のテキスト", "\u{10FFFF}", "a\u{FFFD}b"].map { Array($0.utf8) }
        for bytes in cases {
            for input in [bytes, bytes + [0x41], [0x41] + bytes] {
                let expected = String(validating: input, as: UTF8.self)
                let (valid, text) = input.withUnsafeBufferPointer { buf in
                    let p = buf.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    return (JSONEscapes.isValidUTF8(p, from: 0, end: buf.count), JSONEscapes.string(p, from: 0, end: buf.count))
                }
                if valid != (expected != nil) || text != expected {
                    Issue.record("\(input): valid \(valid), string \(String(describing: text)), standard library \(String(describing: expected))")
                    return
                }
            }
        }
    }

    @Test func escapesAreTheShortForms() {
        #expect(JSONValue.quoted("a\"b\\c\nd\u{01}") == #""a\"b\\c\nd\u0001""#)
    }

    @Test func objectsSerialiseWithSortedKeysAndParseBack() throws {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": ["nested": "x"], "c": -7]
        #expect(value.jsonString == #"{"a":{"nested":"x"},"b":[1,2.5,true,null],"c":-7}"#)
        #expect(try JSONValue.parse(value.jsonString) == value)
    }

    /// Each invalid text is refused at the byte where it stops being JSON (a bad escape: just past it).
    @Test(arguments: [("{", 1), ("[1,]", 3), ("{\"a\" 1}", 5), ("tru", 0), ("\"\\x\"", 3), ("01", 1), ("1.", 2),
                      ("\"\\ud800\"", 7), ("[1] 2", 4)])
    func invalidJSONIsRejectedWithAnOffset(text: String, offset: Int) {
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        #expect(error?.offset == offset, "\(text): \(error.map { "\($0)" } ?? "no error")")
    }
}
