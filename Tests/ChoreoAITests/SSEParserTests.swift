import Testing
@testable import ChoreoAI
import ChoreoTesting

@Suite("SSE parser")
struct SSEParserTests {
    func parse(_ bytes: [UInt8]) throws -> [SSEEvent] {
        var p = SSEParser()
        return try p.feed(bytes)
    }

    func datas(_ text: String) throws -> [String] { try parse(Array(text.utf8)).map(\.text) }

    /// The vectors of wire-formats.md §11.1.
    @Test(arguments: [
        ("data: a\n\n", ["a"]),
        ("data: a\r\n\r\n", ["a"]),
        ("data: a\r\rdata: b\r\r", ["a", "b"]),
        ("data:a\n\n", ["a"]),
        ("data:  a\n\n", [" a"]),
        ("data: a\ndata: b\n\n", ["a\nb"]),
        ("data\ndata:\ndata\n\n", ["\n\n"]),
        (": keep-alive\n\n", []),
        ("event: x\n\n", []),
        ("Data: a\n\n", []),
        ("data: a", []),
        ("data: [DONE]\r\n\r\n", ["[DONE]"]),
    ] as [(String, [String])])
    func wireFormatsVectorsParseToTheirEvents(input: String, expected: [String]) throws {
        #expect(try datas(input) == expected)
    }

    @Test func leadingBOMIsDroppedOnlyAtTheStart() throws {
        #expect(try parse([0xEF, 0xBB, 0xBF] + Array("data: a\n\n".utf8)).map(\.text) == ["a"])
        // A BOM later in the stream is data.
        #expect(try parse(Array("data: ".utf8) + [0xEF, 0xBB, 0xBF] + Array("x\n\n".utf8)).map(\.text) == ["\u{FEFF}x"])
    }

    @Test func eventTypeAndIDPersistence() throws {
        let events = try parse(Array("id: 7\nevent: ping\ndata: a\n\ndata: b\n\n".utf8))
        #expect(events.map(\.type) == ["ping", "message"])
        #expect(events.map(\.lastEventID) == ["7", "7"])
        let reset = try parse(Array("id: 7\ndata: a\n\nid\ndata: b\n\n".utf8))
        #expect(reset.map(\.lastEventID) == ["7", ""])
    }

    /// A repeated event name is reused from the last one read (no String per event): names that
    /// repeat, change, share a prefix, or are empty still come out as sent.
    @Test func repeatedAndChangingEventNamesComeOutAsSent() throws {
        let names = ["content_block_delta", "content_block_delta", "content_block_stop", "content_block_delta",
                     "content_block_delt", "", "content_block_delta", "ping", "ping"]
        let stream = names.map { "event: \($0)\ndata: x\n\n" }.joined() + "data: y\n\n"
        #expect(try parse(Array(stream.utf8)).map(\.type) == names + ["message"])
        var p = SSEParser()
        var seen: [String?] = []
        for byte in Array(stream.utf8) { try [byte].withUnsafeBytes { try p.feed($0, onEventView: { seen.append($0.type) }) } }
        #expect(seen == names + [nil])
    }

    @Test func retryFieldOnlyAcceptsDigits() throws {
        var p = SSEParser()
        _ = try p.feed(Array("retry: 1500\n\n".utf8))
        #expect(p.retryMilliseconds == 1500)
        _ = try p.feed(Array("retry: 15x\n\n".utf8))
        #expect(p.retryMilliseconds == 1500)
    }

    @Test func chunksSplitInsideCRLFDispatchOnce() throws {
        var p = SSEParser()
        var out: [String] = []
        for piece in ["da", "ta: x\r", "\n\r\n"] { out += try p.feed(Array(piece.utf8)).map(\.text) }
        #expect(out == ["x"])
    }

    @Test func lineLongerThanTheBoundIsAnError() throws {
        var p = SSEParser(maxLineLength: 1024)
        #expect(throws: SSEParseError.self) { _ = try p.feed(Array(("data: " + String(repeating: "x", count: 2000)).utf8)) }
    }

    @Test func oneMebibyteLineFedByteByByte() throws {
        var p = SSEParser()
        let payload = String(repeating: "y", count: 1 << 20)
        var events: [SSEEvent] = []
        for b in Array("data: \(payload)\n\n".utf8) { events += try p.feed([b]) }
        #expect(events.count == 1)
        #expect(events.first?.data.count == 1 << 20)
    }

    /// A recorded OpenAI stream with every line ending style and multi-byte characters: every
    /// split into two pieces, and bytes one at a time, yield the same events as the whole.
    @Test func everySplitPointYieldsIdenticalEvents() throws {
        let stream = "\u{FEFF}: comment\r\nevent: message\r\ndata: {\"c\":\"naïve 日本語 🎵\"}\r\n\r\n"
            + "data: line1\ndata: line2\n\nid: 42\rdata: crlf-less\r\rdata: [DONE]\n\n"
        let whole = try expectEverySplitMatchesWhole(Array(stream.utf8)) { pieces in
            var p = SSEParser()
            return try pieces.flatMap { try p.feed(Array($0)) }
        }
        #expect(whole.count == 4)
        #expect(whole[0].text == "{\"c\":\"naïve 日本語 🎵\"}")
    }

    /// The spec's interpretation written plainly (split the whole stream into lines, then read
    /// each): the parser's events, fed whole and in every two pieces, are the same, with empty
    /// lines in runs after every line-ending style (the parser takes those without a search).
    @Test func eventsAreWhatALineByLineReadingOfTheStreamGives() throws {
        let stream = "event: a\n\n\ndata: 1\n\n\n\ndata: 2\r\n\r\n\r\nevent: b\rdata: 3\r\r\r"
            + "data: 4\r\n\n\r\ndata: 5\ndata: 6\n\nevent: c\n\r\ndata: 7\n\nevent: d\r\ndata: 8\r\ndata: 9\r\n\r\n"
        func lineByLine(_ text: String) -> [SSEEvent] {
            var lines: [String] = [], current = ""
            var scalars = Array(text.unicodeScalars)[...]
            while let c = scalars.popFirst() {
                if c == "\r" || c == "\n" {
                    lines.append(current)
                    current = ""
                    if c == "\r", scalars.first == "\n" { scalars.removeFirst() }
                } else {
                    current.unicodeScalars.append(c)
                }
            }
            var events: [SSEEvent] = [], type: String?, data: [String] = []
            for line in lines {
                if line.isEmpty {
                    if !data.isEmpty { events.append(SSEEvent(type: type ?? "message", data: Array(data.joined(separator: "\n").utf8))) }
                    type = nil
                    data = []
                } else if line.hasPrefix("data: ") {
                    data.append(String(line.dropFirst(6)))
                } else if line.hasPrefix("event: ") {
                    type = String(line.dropFirst(7))
                }
            }
            return events
        }
        let expected = lineByLine(stream)
        #expect(expected.map(\.text) == ["1", "2", "3", "4", "5\n6", "7", "8\n9"])
        #expect(expected.map(\.type) == ["message", "message", "b", "message", "message", "message", "d"])
        let whole = try expectEverySplitMatchesWhole(Array(stream.utf8)) { pieces in
            var p = SSEParser()
            return try pieces.flatMap { try p.feed(Array($0)) }
        }
        #expect(whole == expected)
    }

    @Test func pendingEventAtEndOfStreamIsReported() throws {
        var p = SSEParser()
        _ = try p.feed(Array("data: cut".utf8))
        #expect(p.hasPendingEvent)
        var q = SSEParser()
        _ = try q.feed(Array("data: whole\n\n".utf8))
        #expect(!q.hasPendingEvent)
    }
}
