import Testing
@testable import ChoreoAI
import ChoreoTesting
import Foundation

/// The byte scanner (`OpenAIChunkScanner`) must give exactly the chunk the full JSON parser gives,
/// or decline (`nil`) so the full parser decides.
@Suite("OpenAI fast chunk decoder")
struct FastChunkDecoderTests {
    static let head = #""id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306""#

    static func chunk(_ choice: String) -> String { "{\(head),\"choices\":[\(choice)],\"usage\":null}" }

    /// Chunks the scanner must decode itself.
    static let fast: [String] = [
        chunk(#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":" world, a longer piece of text than fifteen bytes"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"line\nbreak \"quoted\" back\\slash \/ \t tab \b\f\r"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"caf\u00e9 \ud83c\udfb5 \u0041 \u20ac"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"café 🎵 raw UTF-8 ünïcödé"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":null},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}"#),
        chunk(#"{"index":0,"delta":{},"finish_reason":"length"}"#),
        chunk(#"{"index":0,"delta":{},"finish_reason":"function_call"}"#),
        chunk(#"{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":null}"#),
        chunk(#"{"index":2,"delta":{"content":"third"},"finish_reason":null}"#),
        chunk(#"{"delta":{"content":"no index"}}"#),
        chunk(#"{"index":null,"delta":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"x","tool_calls":null,"function_call":null,"audio":{"id":"a","data":"xyz","expires_at":12}},"finish_reason":null}"#),
        // whitespace variations
        " { \"id\" : \"a\" , \"object\":\"chat.completion.chunk\",\n\"created\" : 1 ,\"model\":\"m\", \"choices\" : [ { \"index\" : 0 , \"delta\" : { \"content\" : \"hi\" } , \"finish_reason\" : null } ] }\r\n ",
        "{\"id\":\"a\",\"choices\":[\t{\"delta\":{\"content\":\"tab\"}}\t]}",
        // unknown fields of every JSON type
        "{\(head),\"service_tier\":\"default\",\"obfuscation\":\"abc\",\"x\":[1,2.5,-3e10,true,false,null,{\"a\":{}},[]],\"choices\":[{\"index\":0,\"delta\":{\"content\":\"u\"},\"finish_reason\":null}]}",
        // no choices, no usage; empty object; missing fields
        "{\(head),\"choices\":[]}",
        "{}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bare\"}}]}",
        "{\(head),\"system_fingerprint\":null,\"choices\":[]}".replacingOccurrences(of: ",\"system_fingerprint\":\"fp_06737a9306\"", with: ""),
        "{\"id\":\"chatcmpl-\\u0041\",\"model\":\"m\\/1\",\"choices\":[]}",
        "{\"id\":\"x\",\"error\":null,\"choices\":[]}",
        "{\"id\":\"x\",\"created\":-0,\"choices\":[]}",
        // the usage chunk that ends every stream: as api.openai.com (and `choreo mock`) send it,
        // with DeepSeek's cache count, a cache write, no total, empty details, unknown members
        usage(#""prompt_tokens":12,"completion_tokens":256,"total_tokens":268"#),
        usage(#""completion_tokens":4,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":7,"rejected_prediction_tokens":0},"prompt_tokens":19,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":5},"total_tokens":23"#),
        usage(#""prompt_tokens":30,"completion_tokens":2,"total_tokens":32,"prompt_cache_hit_tokens":16,"prompt_cache_miss_tokens":14"#),
        usage(#""prompt_tokens":30,"completion_tokens":2,"prompt_tokens_details":{"cache_write_tokens":9},"prompt_cache_hit_tokens":16"#),
        usage(#""prompt_tokens":30,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":16"#),
        usage(#""prompt_tokens_details":{},"completion_tokens_details":{}"#),
        usage(#""prompt_tokens":-1,"x":[1,2.5,{"y":null}],"cost":0.0021,"completion_tokens_details":{"reasoning_tokens":0,"z":"s"}"#),
        "{\(head),\"choices\":[],\"usage\":{}}",
    ]

    /// A stream's last chunk: no choices, `usage` with `members`.
    static func usage(_ members: String) -> String { "{\(head),\"choices\":[],\"usage\":{\(members)}}" }

    /// Chunks the scanner must leave to the full parser (it still must not decode them wrongly).
    static let slow: [String] = [
        // logprobs and reasoning are kept (the full parser reads them; the scanner used to skip them)
        chunk(#"{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.0123,"bytes":[120],"top_logprobs":[]}]},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":null,"reasoning_content":"think"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"reasoning":"think"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}"#),
        "{\(head),\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{\"content\":\"b\"}}]}",
        // usage counts the scanner does not read as the full parser would: fractional, null, a
        // string, a details member that is not an object, a count given twice
        usage(#""prompt_tokens":12.0,"completion_tokens":256"#),
        usage(#""prompt_tokens":12,"completion_tokens":null"#),
        usage(#""prompt_tokens":"12","completion_tokens":1"#),
        usage(#""prompt_tokens":12,"total_tokens":1e3"#),
        usage(#""prompt_tokens":12,"prompt_tokens_details":null"#),
        usage(#""prompt_tokens":12,"completion_tokens_details":{"reasoning_tokens":null}"#),
        usage(#""prompt_tokens":12,"prompt_tokens":13"#),
        usage(#""prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2}"#),
        "{\(head),\"choices\":[],\"usage\":[1]}",
        "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}",
        "{\"object\":\"error\",\"message\":\"boom\",\"type\":\"x\"}",
        "{\"id\":\"a\",\"id\":\"b\",\"choices\":[]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}",
        "{\"cho\\u0069ces\":[{\"delta\":{\"content\":\"escaped key\"}}]}",
        chunk(#"{"index":0,"delta":{"content":"lone \ud83c surrogate"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"bad \x escape"},"finish_reason":null}"#),
        "{\"created\":1.7e9,\"choices\":[]}",
        "{\"created\":017,\"choices\":[]}",
        "{\"id\":null,\"choices\":[]}",
        "{\"choices\":null}",
        "{\"unknown\":\"caf\u{e9}\",\"choices\":[]}",
        "{\"unknown\":\"\\u00e9\",\"choices\":[]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]} trailing",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]",
        "{\"choices\":[{\"delta\":{\"content\":\"unterminated}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"ctl\u{01}\"}}]}",
        "[1,2]",
        "",
    ]

    /// What the full parser makes of `text`: a chunk, or nil when it throws.
    static func full(_ bytes: [UInt8]) -> ChatCompletionChunk? {
        var out: [ChatCompletionChunk] = []
        do {
            try bytes.withUnsafeBytes { raw in try OpenAIChunkDecoder.decodeFull(raw) { out.append($0) } }
        } catch { return nil }
        return out.first
    }

    static func scan(_ bytes: [UInt8]) -> ChatCompletionChunk? {
        var scanner = OpenAIChunkScanner()
        return bytes.withUnsafeBytes { scanner.scan($0) }
    }

    @Test(arguments: fast)
    func commonChunksTakeTheFastPathAndEqualTheFullParsers(text: String) throws {
        let bytes = Array(text.utf8)
        let expected = try #require(Self.full(bytes), "the full parser rejects the corpus entry")
        let got = try #require(Self.scan(bytes), "the scanner declined a common chunk")
        #expect(got == expected)
    }

    @Test(arguments: slow)
    func unusualChunksFallBackToTheFullParser(text: String) {
        #expect(Self.scan(Array(text.utf8)) == nil)
    }

    @Test func escapesDecodeToTheirText() throws {
        let c = try #require(Self.scan(Array(Self.fast[4].utf8)))
        #expect(c.content == "café 🎵 A €")
        let d = try #require(Self.scan(Array(Self.fast[3].utf8)))
        #expect(d.content == "line\nbreak \"quoted\" back\\slash / \t tab \u{08}\u{0C}\r")
    }

    @Test func theDecoderGivesTheSameChunksAndErrorsWithAndWithoutTheFastPath() throws {
        for text in Self.fast + Self.slow {
            let bytes = Array(text.utf8)
            var decoder = OpenAIChunkDecoder()
            var got: [ChatCompletionChunk] = []
            var gotError: String?
            do { try decoder.decode(SSEEvent(data: bytes)) { got.append($0) } } catch { gotError = "\(error)" }
            var expected: [ChatCompletionChunk] = []
            var expectedError: String?
            do { try bytes.withUnsafeBytes { try OpenAIChunkDecoder.decodeFull($0) { expected.append($0) } } } catch { expectedError = "\(error)" }
            #expect(got == expected, "\(text)")
            #expect(gotError == expectedError, "\(text)")
        }
    }

    @Test func cachedIDAndModelStringsFollowChangesBetweenChunks() throws {
        var scanner = OpenAIChunkScanner()
        for (id, model) in [("a", "m1"), ("a", "m1"), ("chatcmpl-a-long-identifier-0001", "m1"), ("chatcmpl-a-long-identifier-0002", "m2"), ("b", "m2")] {
            let text = "{\"id\":\"\(id)\",\"model\":\"\(model)\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}"
            let c = try #require(Array(text.utf8).withUnsafeBytes { scanner.scan($0) })
            #expect(c.id == id && c.model == model)
            #expect(c == Self.full(Array(text.utf8)))
        }
    }

    @Test func aStreamSplitAtEveryByteDecodesToTheSameChunks() throws {
        let events = Self.fast.prefix(12).map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        let bytes = Array(events.utf8)
        var expected: [ChatCompletionChunk] = []
        for text in Self.fast.prefix(12) { expected.append(try #require(Self.full(Array(text.utf8)))) }
        let got = try expectEverySplitMatchesWhole(bytes) { pieces in
            var parser = SSEParser()
            var decoder = OpenAIChunkDecoder()
            var got: [ChatCompletionChunk] = []
            for part in pieces {
                try Array(part).withUnsafeBytes { raw in
                    try parser.feed(raw, onEventView: { e in try decoder.decode(data: e.data) { got.append($0) } })
                }
            }
            #expect(decoder.isComplete)
            return got
        }
        #expect(got == expected)
    }

    /// Consecutive chunks of one stream that differ only inside the content string take the
    /// template path; whatever else differs, or a string that is not one, must not.
    static let templateSequence: [String] = [
        chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"esc \"q\" \n caf\u00e9 \ud83c\udfb5"},"logprobs":null,"finish_reason":null}"#),
        // A string whose text looks like the suffix, and one that ends early inside it.
        chunk(#"{"index":0,"delta":{"content":"\"},\"logprobs\":null,\"finish_reason\":null}]"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":"stop"}"#),
        chunk(#"{"index":0,"delta":{"content":"b"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"other choice"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"lone \ud83c"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"ctl \#u{01}"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"unterminated},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"bad \x"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":null},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"after null"},"logprobs":null,"finish_reason":null}"#),
        chunk(#"{"index":1,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}"#).replacingOccurrences(of: "1741570283", with: "1741570284"),
        chunk(#"{"index":1,"delta":{"content":"y"},"logprobs":null,"finish_reason":null}"#).replacingOccurrences(of: "1741570283", with: "1741570284"),
    ]

    /// api.openai.com's chunks: a random `obfuscation` padding at the end of each (wire-formats-2
    /// §5.3). Padding that is not plain ASCII, or a key that only looks like it, must not match.
    static let paddedSequence: [String] = {
        func padded(_ choice: String, _ padding: String) -> String { String(chunk(choice).dropLast()) + #","obfuscation":"\#(padding)"}"# }
        return [
            padded(#"{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}"#, "p9K3xT6w"),
            padded(#"{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}"#, "Q"),
            padded(#"{"index":0,"delta":{"content":"\",\"obfuscation\":\""},"logprobs":null,"finish_reason":null}"#, "abcdefghijklmnop"),
            padded(#"{"index":0,"delta":{"content":"e"},"logprobs":null,"finish_reason":null}"#, ""),
            padded(#"{"index":0,"delta":{"content":"esc"},"logprobs":null,"finish_reason":null}"#, #"a\"b"#),
            padded(#"{"index":0,"delta":{"content":"uni"},"logprobs":null,"finish_reason":null}"#, "caf\u{e9}"),
            padded(#"{"index":0,"delta":{"content":"ctl"},"logprobs":null,"finish_reason":null}"#, "a\u{01}"),
            padded(#"{"index":0,"delta":{"content":"open"},"logprobs":null,"finish_reason":null}"#, "x\"},\"y\":\"z"),
            String(chunk(#"{"index":0,"delta":{"content":"other key"},"logprobs":null,"finish_reason":null}"#).dropLast()) + #","obfuscatiom":"k3"}"#,
            padded(#"{"index":0,"delta":{"content":"again"},"logprobs":null,"finish_reason":null}"#, "Zz9"),
            padded(#"{"index":0,"delta":{"content":"done"},"logprobs":null,"finish_reason":"stop"}"#, ""),
        ]
    }()

    /// The padding followed by other members, as `choreo mock` sends it (`"obfuscation":"…","usage":null`):
    /// what follows the padding must be the template's too, byte for byte.
    static let paddedBeforeMoreSequence: [String] = {
        func padded(_ content: String, _ padding: String, then rest: String = #","usage":null"#) -> String {
            "{\(head),\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(content)\"},\"logprobs\":null,\"finish_reason\":null}],"
                + #""obfuscation":"\#(padding)""# + rest + "}"
        }
        let more = #","usage":null,"extra":[true]"#
        return [
            padded("Hello", "p9K3xT6w"),
            padded(" world", "Q"),
            padded("", ""),
            padded("open", #"x\",\"usage\":null,\"y\":\""#),
            padded("esc", #"a\"b"#),
            padded("next", "Zz9"),
            padded("then", "abc", then: more),
            padded("more", "xy", then: more),
            padded("last", "xyz"),
            padded("last", "xyz", then: #","usage":null,"x":1"#),
        ]
    }()

    @Test func paddingFollowedByMoreMembersGivesTheFullParsersChunksAndTakesTheTemplatePath() throws {
        // A padding with escapes or quotes misses, and so does one whose following bytes differ.
        let matched = Self.decodeCheckingTheFullParser(Self.paddedBeforeMoreSequence)
        #expect(matched == [false, true, true, false, false, false, false, true, false, false], "\(matched)")
    }

    @Test func chunksWithObfuscationPaddingGiveTheFullParsersChunksAndTakeTheTemplatePath() throws {
        let matched = Self.decodeCheckingTheFullParser(Self.paddedSequence)
        #expect(matched == [false, true, true, true, false, false, false, false, false, false, false], "\(matched)")
    }

    /// Decodes `sequence` as one stream, expecting each event's chunks and error to be the full
    /// parser's, and returns which events matched the template left by the one before them.
    static func decodeCheckingTheFullParser(_ sequence: [String]) -> [Bool] {
        var decoder = OpenAIChunkDecoder()
        var scanner = OpenAIChunkScanner()
        var matched: [Bool] = []
        for text in sequence {
            let bytes = Array(text.utf8)
            var got: [ChatCompletionChunk] = [], expected: [ChatCompletionChunk] = []
            var gotError: String?, expectedError: String?
            do { try bytes.withUnsafeBytes { try decoder.decode(data: $0) { got.append($0) } } } catch { gotError = "\(error)" }
            do { try bytes.withUnsafeBytes { try OpenAIChunkDecoder.decodeFull($0) { expected.append($0) } } } catch { expectedError = "\(error)" }
            #expect(got == expected, "\(text)")
            #expect(gotError == expectedError, "\(text)")
            let hit = bytes.withUnsafeBytes { raw in scanner.withTemplateMatch(raw) { _, _ in } }
            if !hit { _ = bytes.withUnsafeBytes { scanner.scanWithoutTemplate($0) } }
            matched.append(hit)
        }
        return matched
    }

    @Test func aStreamOfChunksGivesTheFullParsersChunksAndErrorsThroughTheTemplatePath() throws {
        var decoder = OpenAIChunkDecoder()
        var expectedAcc = ChunkAccumulator()
        for text in Self.templateSequence {
            let bytes = Array(text.utf8)
            var got: [ChatCompletionChunk] = []
            var gotError: String?
            do { try bytes.withUnsafeBytes { try decoder.decode(data: $0) { got.append($0) } } } catch { gotError = "\(error)" }
            var expected: [ChatCompletionChunk] = []
            var expectedError: String?
            do { try bytes.withUnsafeBytes { try OpenAIChunkDecoder.decodeFull($0) { expected.append($0) } } } catch { expectedError = "\(error)" }
            #expect(got == expected, "\(text)")
            #expect(gotError == expectedError, "\(text)")
            for c in expected { expectedAcc.add(c) }
        }
        // The push path (chunks folded in without being built) ends where the chunks do.
        var pushDecoder = OpenAIChunkDecoder()
        var collected = ChunkAccumulator()
        for text in Self.templateSequence {
            try? Array(text.utf8).withUnsafeBytes { try pushDecoder.decode(data: $0, into: &collected) }
        }
        #expect(collected.completion == expectedAcc.completion)
        #expect(collected.chunkCount == expectedAcc.chunkCount)
        #expect(collected.outputChunkCount == expectedAcc.outputChunkCount)
    }

    @Test func theTemplatePathIsTakenForChunksThatDifferOnlyInContent() throws {
        var scanner = OpenAIChunkScanner()
        _ = Array(Self.templateSequence[1].utf8).withUnsafeBytes { scanner.scan($0) }
        var seen: String?
        let matched = Array(Self.templateSequence[2].utf8).withUnsafeBytes { raw in
            scanner.withTemplateMatch(raw) { _, content in seen = String(decoding: content, as: UTF8.self) }
        }
        #expect(matched && seen == " world")
        let other = Array(Self.templateSequence[6].utf8).withUnsafeBytes { raw in scanner.withTemplateMatch(raw) { _, _ in } }
        #expect(!other, "a different finish_reason is not the template")
    }
    @Test func inBandErrorsKeepTheirTypeAndMessage() throws {
        func providerError(_ text: String) -> (type: String?, message: String)? {
            do { try Array(text.utf8).withUnsafeBytes { try OpenAIChunkDecoder.decodeFull($0) { _ in } } }
            catch WireError.providerError(let type, let message) { return (type, message) } catch {}
            return nil
        }
        #expect(providerError(#"{"error":{"message":"overloaded","type":"server_error"}}"#)! == ("server_error", "overloaded"))
        #expect(providerError(#"{"error":{"code":"rate_limited"}}"#)! == ("rate_limited", "error in stream"))
        #expect(providerError(#"{"error":null,"object":"error","type":"BadRequestError","message":"boom"}"#)! == ("BadRequestError", "boom"))
        #expect(providerError(#"{"object":"error"}"#)! == (nil, "error in stream"))
        do { _ = try OpenAIWire().decodeCompletion(Array(#"{"error":{"type":"t"}}"#.utf8)); Issue.record("no error") }
        catch WireError.providerError(let type, let message) { #expect(type == "t" && message == "unknown error") }
    }

    @Test func pushModeAfterATemplateMissFoldsInWhatTheScannerOrTheFullParserGives() throws {
        // Each chunk misses the template its predecessor left (finish_reason or index differ).
        let texts = [Self.templateSequence[1], Self.templateSequence[6], Self.templateSequence[7], Self.templateSequence[8],
                     Self.slow[0], Self.templateSequence[2], Self.slow[2]]
        var push = OpenAIChunkDecoder(), emitDecoder = OpenAIChunkDecoder()
        var pushed = ChunkAccumulator(), emitted = ChunkAccumulator()
        for text in texts {
            try Array(text.utf8).withUnsafeBytes { raw in
                try push.decode(data: raw, into: &pushed)
                try emitDecoder.decode(data: raw) { emitted.add($0) }
            }
        }
        #expect(pushed.completion == emitted.completion)
        #expect(pushed.chunkCount == emitted.chunkCount)
    }
}
