import Testing
@testable import ChoreoAI
import Foundation

/// The Anthropic and Gemini decoders read their common events straight from the bytes
/// (`AnthropicChunkDecoder.textDelta`, `GeminiChunkDecoder.scan`); what they read must be exactly
/// what the JSON parser reads, and whatever they doubt must go to the parser.
@Suite struct AnthropicGeminiFastPathTests {
    // MARK: Anthropic

    static let messageStart = #"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#

    /// Text deltas as Anthropic prints them: the fast path must take them.
    static let anthropicFast = [
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
        #"{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":" a longer piece of text, past the inline size"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"line\nbreak \"quoted\" back\\slash \/ \t \u00e9 \ud83c\udfb5"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" naïve café 🎵"}}"#,
    ]

    /// Events the fast path must leave to the parser (which decodes them, or refuses them).
    static let anthropicSlow = [
        #"{"type":"ping"}"#,
        #"{"index":0,"type":"content_block_delta","delta":{"type":"text_delta","text":"reordered"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"text":"reordered","type":"text_delta"}}"#,
        #"{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"spaced"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"extra","citations":[]}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"bad escape \x"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lone \ud800 surrogate"}}"#,
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"control \u{01}\"}}",
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"trailing"}} "#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"garbage"}}x"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"unclosed"}"#,
        #"{"type":"content_block_delta","index":"0","delta":{"type":"text_delta","text":"string index"}}"#,
        #"{"type":"content_block_delta","index":1.5,"delta":{"type":"text_delta","text":"fraction"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
    ]

    static func anthropicEvent(_ json: String) -> SSEEvent { SSEEvent(type: "content_block_delta", data: Array(json.utf8)) }

    /// Runs `events` through `decode` (fast path on) or `decodeFull`: the chunks and the error, as text.
    static func anthropicRun(_ events: [String], fast: Bool) -> (chunks: [ChatCompletionChunk], error: String?, complete: Bool) {
        var decoder = AnthropicChunkDecoder(created: 1000)
        var chunks: [ChatCompletionChunk] = []
        do {
            for e in events {
                if fast { try decoder.decode(anthropicEvent(e)) { chunks.append($0) } } else { try decoder.decodeFull(anthropicEvent(e)) { chunks.append($0) } }
            }
        } catch { return (chunks, "\(error)", decoder.isComplete) }
        return (chunks, nil, decoder.isComplete)
    }

    @Test(arguments: anthropicFast)
    func anthropicTextDeltasTakeTheFastPathAndGiveTheParsersChunks(event: String) throws {
        var scratch: [UInt8] = []
        let text = try #require(AnthropicChunkDecoder.textDelta(Array(event.utf8), scratch: &scratch), "the fast path declined a text delta")
        let expected = Self.anthropicRun([Self.messageStart, event], fast: false)
        #expect(expected.error == nil)
        #expect(expected.chunks.last?.content == text)
        #expect(Self.anthropicRun([Self.messageStart, event], fast: true).chunks == expected.chunks)
    }

    @Test(arguments: anthropicSlow)
    func anthropicUnusualEventsGoToTheParser(event: String) {
        var scratch: [UInt8] = []
        #expect(AnthropicChunkDecoder.textDelta(Array(event.utf8), scratch: &scratch) == nil)
        let expected = Self.anthropicRun([Self.messageStart, event], fast: false)
        let got = Self.anthropicRun([Self.messageStart, event], fast: true)
        #expect(got.chunks == expected.chunks)
        #expect(got.error == expected.error)
    }

    @Test func anthropicEscapesDecodeToTheirText() throws {
        var scratch: [UInt8] = []
        let text = try #require(AnthropicChunkDecoder.textDelta(Array(Self.anthropicFast[3].utf8), scratch: &scratch))
        #expect(text == "line\nbreak \"quoted\" back\\slash / \t é 🎵")
    }

    /// The kept text chunk carries the id and model of the message it is in, even when a second
    /// `message_start` changes them.
    @Test func anthropicStreamGivesTheParsersChunksAcrossMessages() {
        let second = Self.messageStart.replacingOccurrences(of: "msg_01", with: "msg_02").replacingOccurrences(of: "claude-sonnet-4-5", with: "claude-opus-4-5")
        let stream = [Self.messageStart] + Self.anthropicFast + [second] + Self.anthropicFast.reversed() + Self.anthropicSlow.prefix(6)
            + [#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#, #"{"type":"message_stop"}"#]
        let expected = Self.anthropicRun(stream, fast: false)
        let got = Self.anthropicRun(stream, fast: true)
        #expect(expected.error == nil)
        #expect(got.chunks == expected.chunks)
        #expect(got.complete && expected.complete)
        // The first message's role chunk and text, then everything from the second message on.
        #expect(got.chunks.prefix(1 + Self.anthropicFast.count).allSatisfy { $0.id == "msg_01" && $0.model == "claude-sonnet-4-5" })
        #expect(got.chunks.dropFirst(1 + Self.anthropicFast.count).allSatisfy { $0.id == "msg_02" && $0.model == "claude-opus-4-5" })
        Self.expectFoldGivesTheParsers(AnthropicChunkDecoder(created: 1000), stream, type: "content_block_delta", expected)
        // Deltas of whitespace only, ASCII and not, end the text: they are counted as trailing blanks.
        let blanks = [Self.messageStart] + Self.anthropicFast + [" \u{3000}", "\n"].map {
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":\#(JSONValue.string($0).jsonString)}}"#
        }
        Self.expectFoldGivesTheParsers(AnthropicChunkDecoder(created: 1000), blanks, type: "content_block_delta",
                                       Self.anthropicRun(blanks, fast: false))
        var folded = ChunkAccumulator()
        var decoder = AnthropicChunkDecoder(created: 1000)
        for e in blanks {
            try? Array(e.utf8).withUnsafeBytes { try decoder.decode(view: SSEEventView(type: nil, data: $0, lastEventID: nil), into: &folded) }
        }
        #expect(folded.trailingBlankChunks == 2)
    }

    // MARK: Gemini

    /// Events the scanner must read itself: as Google prints them (`": "` after keys), compact as
    /// in wire-formats §7.2, and with members it skips.
    static let geminiFast = [
        #"{"candidates": [{"content": {"parts": [{"text": "The"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 12}]},"modelVersion": "gemini-2.5-flash","responseId": "mTP0aKqaJvjEz7IP8bW2oQM"}"#,
        #"{"candidates": [{"content": {"parts": [{"text": " naïve café 🎵 \"quoted\"\n"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 2,"totalTokenCount": 14},"modelVersion": "gemini-2.5-flash","responseId": "mTP0aKqaJvjEz7IP8bW2oQM"}"#,
        #"{"candidates": [{"content": {"parts": [{"text": " fox."}],"role": "model"},"finishReason": "STOP","index": 0,"safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH","probability": "NEGLIGIBLE"}]}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 3,"totalTokenCount": 40,"thoughtsTokenCount": 25,"cachedContentTokenCount": 4,"toolUsePromptTokenCount": 1,"candidatesTokensDetails": [{"modality": "TEXT","tokenCount": 3}]},"modelVersion": "gemini-2.5-flash","responseId": "mTP0aKqaJvjEz7IP8bW2oQM"}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"Phobos"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":11,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r-7Hk"}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a","thoughtSignature":"CiQBEU0yD7pX"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0"}},{"text":"b"}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"zero"}]},"index":0},{"content":{"parts":[{"text":"one"}]},"index":1,"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":3}}"#,
        #"{"candidates":[{"index":0,"content":{"role":"model","parts":[]}}],"usageMetadata":{}}"#,
        #"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9,"totalTokenCount":14},"responseId":"late"}"#,
        #"{"usageMetadata":{"promptTokenCount":5},"candidates":[{"finishReason":"STOP"}],"modelVersion":"m","someNewField":{"nested":[1,2.5e3,true,false,null]}}"#,
        " \n{ \"candidates\" : [ { \"content\" : { \"parts\" : [ { \"text\" : \"spaced\" } ] } , \"index\" : 2 } ] } \r\n",
    ]

    /// Events the scanner must leave to the parser (which decodes them, or refuses them).
    static let geminiSlow = [
        #"{"candidates":[{"content":{"parts":[{"text":"Let me check.","thought":true},{"text":"Checking."}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}],"role":"model"},"finishReason":"STOP","index":0}]}"#,
        #"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        #"{"error":null,"candidates":[{"content":{"parts":[{"text":"x"}]}}]}"#,
        #"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]},"index":0.0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]},"index":null}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":null}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x","text":"y"}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"candidates":[]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":null}]}"#,
        #"{"candidates":null,"usageMetadata":null}"#,
        #"{"candidates":[{"content":null}]}"#,
        #"{"candidates":[{"content":{"parts":null}}]}"#,
        #"{"candidates":["not an object"]}"#,
        #"{"candidates":[{"content":{"parts":["not an object"]}}]}"#,
        #"{"usageMetadata":{"promptTokenCount":5.0}}"#,
        #"{"usageMetadata":{"promptTokenCount":null}}"#,
        #"{"usageMetadata":{"promptTokenCount":1,"promptTokenCount":2}}"#,
        #"{"c\u0061ndidates":[{"content":{"parts":[{"text":"escaped key"}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishMessage":"non-ASCII skipped: é"}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"lone \ud800"}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}garbage"#,
        #"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]"#,
        #"{"modelVersion":42}"#,
        #"[{"candidates":[]}]"#,
        "",
    ]

    static func geminiRun(_ events: [String], fast: Bool) -> (chunks: [ChatCompletionChunk], error: String?, complete: Bool) {
        var decoder = GeminiChunkDecoder(created: 1000)
        var chunks: [ChatCompletionChunk] = []
        do {
            for e in events {
                let event = SSEEvent(data: Array(e.utf8))
                if fast { try decoder.decode(event) { chunks.append($0) } } else { try decoder.decodeFull(event) { chunks.append($0) } }
            }
        } catch { return (chunks, "\(error)", decoder.isComplete) }
        return (chunks, nil, decoder.isComplete)
    }

    @Test(arguments: geminiFast)
    func geminiCommonEventsAreScannedToTheParsersResponse(event: String) throws {
        let bytes = Array(event.utf8)
        var scratch: [UInt8] = []
        let expected = try GeminiChunkDecoder.parse(bytes)
        let got = try #require(GeminiChunkDecoder.scan(bytes, readingIDs: true, scratch: &scratch), "the scanner declined a common event")
        #expect(got == expected)
        // Once the id and model are known they are only checked, not decoded.
        var unread = expected
        unread.responseId = nil
        unread.modelVersion = nil
        #expect(GeminiChunkDecoder.scan(bytes, readingIDs: false, scratch: &scratch) == unread)
    }

    @Test(arguments: geminiSlow)
    func geminiUnusualEventsGoToTheParser(event: String) {
        var scratch: [UInt8] = []
        #expect(GeminiChunkDecoder.scan(Array(event.utf8), readingIDs: true, scratch: &scratch) == nil)
        let expected = Self.geminiRun([event], fast: false)
        let got = Self.geminiRun([event], fast: true)
        #expect(got.chunks == expected.chunks)
        #expect(got.error == expected.error)
    }

    @Test func geminiStreamsGiveTheParsersChunksErrorsAndEnd() {
        let streams = [
            Self.geminiFast,
            Self.geminiFast.reversed(),
            Self.geminiFast.prefix(2) + Self.geminiSlow.prefix(2) + Self.geminiFast.suffix(3),
            Self.geminiFast.prefix(3) + [Self.geminiSlow[2]] + Self.geminiFast,
        ]
        for stream in streams {
            let expected = Self.geminiRun(Array(stream), fast: false)
            let got = Self.geminiRun(Array(stream), fast: true)
            #expect(got.chunks == expected.chunks)
            #expect(got.error == expected.error)
            #expect(got.complete == expected.complete)
        }
    }

    /// A stream as Gemini sends it (and `scripts/bench/gen.py gemini` makes it): one word a
    /// chunk, usage on every chunk with growing counts, `STOP` on the last.
    static func geminiStream(_ words: [String]) -> [String] {
        words.enumerated().map { i, word in
            let text = JSONValue.string(word).jsonString
            let finish = i == words.count - 1 ? #","finishReason": "STOP""# : ""
            let counts = i == 0 ? #""promptTokenCount": 12,"totalTokenCount": 12"#
                : #""promptTokenCount": 12,"candidatesTokenCount": \#(i + 1),"totalTokenCount": \#(13 + i)"#
            return #"{"candidates": [{"content": {"parts": [{"text": \#(text)}],"role": "model"}\#(finish),"index": 0}],"usageMetadata": {\#(counts),"promptTokensDetails": [{"modality": "TEXT","tokenCount": 12}]},"modelVersion": "gemini-2.5-flash","responseId": "mTP0aKqaJvjEz7IP8bW2oQM"}"#
        }
    }

    static let words = ["The", " quick", " \"quoted\"", "\n", " naïve", " 🎵", "", " fox", ".", "\u{3000}", " end"]

    static func template(from event: String) throws -> GeminiChunkDecoder.Template {
        var scratch: [UInt8] = []
        var spans = GeminiChunkDecoder.Spans()
        let response = try #require(GeminiChunkDecoder.scan(Array(event.utf8), readingIDs: true, scratch: &scratch, spans: &spans))
        return try #require(GeminiChunkDecoder.Template(Array(event.utf8), spans, response))
    }

    @Test func geminiTemplateReadsOnlyTheTextAndUsageOfTheNextEvents() throws {
        let stream = Self.geminiStream(Self.words)
        let template = try Self.template(from: stream[1])
        var scratch: [UInt8] = []
        for event in stream.dropFirst(2).dropLast() {
            let got = try #require(template.match(Array(event.utf8), scratch: &scratch), "the template missed \(event)")
            #expect(got == (try GeminiChunkDecoder.parse(Array(event.utf8))))
        }
    }

    @Test func geminiEventsThatDifferElsewhereMissTheTemplate() throws {
        let stream = Self.geminiStream(Self.words)
        let template = try Self.template(from: stream[1])
        let next = stream[2]
        let misses = [
            stream.last!,                                                                       // finishReason
            next.replacingOccurrences(of: #"{"text": "#, with: #"{"text": "a"},{"text": "#),        // two parts
            next.replacingOccurrences(of: "mTP0aKqaJvjEz7IP8bW2oQM", with: "another-response"),  // responseId
            next.replacingOccurrences(of: #""role": "model""#, with: #""role":"model""#),      // spacing
            next.replacingOccurrences(of: #""candidatesTokenCount": 3"#, with: #""candidatesTokenCount": 3.0"#),
            next.replacingOccurrences(of: #""candidatesTokenCount": 3"#, with: #""candidatesTokenCount": null"#),
            next.replacingOccurrences(of: #"{"text": "#, with: #"{"text": "bad \u12"#),
            next.replacingOccurrences(of: #"{"text": "#, with: #"{"thought": true,"text": "#),
            next + " ",
            String(next.dropLast()),
            stream[0],                                                                          // other usage members
            next.replacingOccurrences(of: #""tokenCount": 12}]}"#, with: #""tokenCount": 12}],"thoughtsTokenCount": 7}"#),
            next.replacingOccurrences(of: #""tokenCount": 12"#, with: #""tokenCount": 13"#),  // not a count the template reads
            next.replacingOccurrences(of: #""candidatesTokenCount": 3"#, with: #""candidatesTokenCount": 03"#),
            next.replacingOccurrences(of: #""candidatesTokenCount": 3"#, with: #""candidatesTokenCount": 3e0"#),
        ]
        var scratch: [UInt8] = []
        for event in misses {
            #expect(template.match(Array(event.utf8), scratch: &scratch) == nil, "\(event)")
        }
        // A miss changes nothing: the next real event still matches.
        #expect(template.match(Array(next.utf8), scratch: &scratch) == (try GeminiChunkDecoder.parse(Array(next.utf8))))
        // Only the counts (any plain integer) may differ in the usage.
        let counts = next.replacingOccurrences(of: #""promptTokenCount": 12,"candidatesTokenCount": 3,"totalTokenCount": 15"#,
                                               with: #""promptTokenCount": -4,"candidatesTokenCount": 123456789012345678,"totalTokenCount": 0"#)
        #expect(counts != next)
        #expect(template.match(Array(counts.utf8), scratch: &scratch) == (try GeminiChunkDecoder.parse(Array(counts.utf8))))
    }

    @Test func geminiTemplateStreamsGiveTheParsersChunksErrorsAndEnd() {
        let stream = Self.geminiStream(Self.words)
        /// `stream` with `events` in place of its events from `at` to `upTo`.
        func splice(_ at: Int, _ upTo: Int, _ events: [String]) -> [String] {
            Array(stream[..<at]) + events + Array(stream[upTo...])
        }
        let fraction = stream[5].replacingOccurrences(of: #""candidatesTokenCount": 6"#, with: #""candidatesTokenCount": 6.5"#)
        let streams: [[String]] = [
            stream,
            splice(4, 4, Array(Self.geminiSlow.prefix(2))),
            splice(3, 3, Self.geminiFast),
            splice(5, 6, [fraction]),
            splice(5, 6, [String(stream[5].dropLast())]),
        ]
        for s in streams {
            let expected = Self.geminiRun(s, fast: false)
            let got = Self.geminiRun(s, fast: true)
            #expect(got.chunks == expected.chunks)
            #expect(got.error == expected.error)
            #expect(got.complete == expected.complete)
        }
        #expect(Self.geminiRun(stream, fast: true).chunks.map { $0.content ?? "" }.joined() == Self.words.joined())
        for s in streams { Self.expectFoldGivesTheParsers(GeminiChunkDecoder(created: 1000), s, Self.geminiRun(s, fast: false)) }
    }

    /// Push mode (`decode(view:into:)`, the runner's) folds `events` into the accumulator that
    /// the parser's chunks give, and ends with its error.
    static func expectFoldGivesTheParsers(_ decoder: some ChunkDecoder, _ events: [String], type: String = "message",
                                          _ expected: (chunks: [ChatCompletionChunk], error: String?, complete: Bool),
                                          sourceLocation: SourceLocation = #_sourceLocation) {
        var decoder = decoder
        var parsed = ChunkAccumulator()
        for chunk in expected.chunks { parsed.add(chunk) }
        var folded = ChunkAccumulator()
        var error: String?
        do {
            for e in events {
                try Array(e.utf8).withUnsafeBytes { try decoder.decode(view: SSEEventView(type: type, data: $0, lastEventID: nil), into: &folded) }
            }
        } catch let e { error = "\(e)" }
        #expect(error == expected.error, sourceLocation: sourceLocation)
        #expect(folded.completion == parsed.completion, sourceLocation: sourceLocation)
        #expect(folded.text == parsed.text, sourceLocation: sourceLocation)
        #expect(folded.usage == parsed.usage, sourceLocation: sourceLocation)
        #expect(folded.chunkCount == parsed.chunkCount, sourceLocation: sourceLocation)
        #expect(folded.outputChunkCount == parsed.outputChunkCount, sourceLocation: sourceLocation)
        #expect(folded.trailingBlankChunks == parsed.trailingBlankChunks, sourceLocation: sourceLocation)
    }
}

// The scanners read bytes lent for the call; the tests hand them arrays.
extension AnthropicChunkDecoder {
    static func textDelta(_ data: [UInt8], scratch: inout [UInt8]) -> String? {
        data.withUnsafeBytes { raw in textDelta(raw, scratch: &scratch).map { $0.string(in: raw, scratch: scratch) } }
    }
}

extension GeminiChunkDecoder {
    static func scan(_ data: [UInt8], readingIDs: Bool, scratch: inout [UInt8]) -> Response? {
        var spans = Spans()
        return scan(data, readingIDs: readingIDs, scratch: &scratch, spans: &spans)
    }

    static func scan(_ data: [UInt8], readingIDs: Bool, scratch: inout [UInt8], spans: inout Spans) -> Response? {
        data.withUnsafeBytes { scan($0, readingIDs: readingIDs, scratch: &scratch, spans: &spans) }
    }
}

extension GeminiChunkDecoder.Template {
    /// The `Response` of `data` as the decoder takes it from the template; nil when it misses.
    func match(_ data: [UInt8], scratch: inout [UInt8]) -> GeminiChunkDecoder.Response? {
        var counts = GeminiChunkDecoder.UsageCounts()
        return data.withUnsafeBytes { raw in
            read(raw, scratch: &scratch, counts: &counts).map { text in
                response(text: text.string(in: raw, scratch: scratch), usage: counts.usage)
            }
        }
    }
}
