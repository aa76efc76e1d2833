#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast path of `OpenAIChunkDecoder`: a byte scanner for the common `chat.completion.chunk`
/// shape that builds the chunk straight from the event's bytes, without a `JSONValue` tree.
///
/// It reads `id`, `created`, `model`, `system_fingerprint`, at most one choice with `index`,
/// `finish_reason` and `delta.{role, content, refusal}`, and the `usage` object's counts (the
/// last chunk of every stream); other members are skipped (and checked as JSON), except those
/// that carry something to keep (non-null `logprobs`, reasoning), which go to the full parser.
/// `id`, `model` and `system_fingerprint` repeat in every chunk of a stream, so their `String`s
/// are kept and reused while the bytes are the same: a typical chunk allocates only its `choices`
/// array.
///
/// Anything it does not handle the way the full parser would returns `nil`, and the caller falls
/// back to `JSONValue.parse` + `OpenAIChunkDecoder.chunk`: tool calls, several choices, in-band
/// errors, escaped keys, duplicate keys, non-ASCII in skipped strings, numbers that are not plain
/// integers (a usage count among them), malformed JSON. The contract, tested by
/// FastChunkDecoderTests: whenever `scan` returns a chunk, it equals what the full parser produces.
///
/// The template: within one stream, consecutive chunks are usually byte for byte the same except
/// for the text inside `"content":"…"`. The scanner keeps the last scanned chunk that had a
/// content string, split into the bytes before the string and the bytes after it; an event with
/// the same bytes around a valid string is that chunk with new content, and only the string is read.
///
/// api.openai.com adds `"obfuscation":"<random padding>"` to every chunk (wire-formats-2 §5.3),
/// so no two chunks have the same bytes after the content. When the template has that member
/// after its content (last, or followed by others such as `"usage":null`), its suffix stops
/// after `"obfuscation":"`, the bytes after the padding are kept apart, and the padding (plain
/// printable ASCII, no escapes: what the provider sends) may differ; any other padding misses
/// the template and takes the full scan.
struct OpenAIChunkScanner: Sendable {
    private var id = CachedString()
    private var model = CachedString()
    private var fingerprint = CachedString()
    /// Unescaped string bytes, reused across chunks.
    private var scratch: [UInt8] = []
    /// Where the content string (quotes included) was in the chunk being scanned.
    private var contentSpan: Range<Int>?
    private var templatePrefix: [UInt8] = []
    private var templateSuffix: [UInt8] = []
    /// When the template has an `obfuscation` padding after its content: the bytes after the
    /// padding, from its closing quote to the end of the event (`"}`, or `","usage":null}`…).
    /// `templateSuffix` then ends with the padding's opening quote.
    private var templateAfterPadding: [UInt8]?
    /// The chunk the template was cut from (meaningless while `templatePrefix` is empty, which
    /// `matchTemplate` never matches). Not an optional: passing an optional's unwrapped value
    /// copied the chunk, through its type's metadata, on every event.
    private var templateChunk = ChatCompletionChunk(id: "", created: 0, model: "", choices: [])

    init() {}

    /// The chunk in `data`, or `nil` when the full parser must decide.
    mutating func scan(_ data: UnsafeRawBufferPointer) -> ChatCompletionChunk? {
        if let content = matchTemplate(data) {
            var chunk = templateChunk
            chunk.choices[0].delta.content = content.string(in: data, scratch: scratch)
            return chunk
        }
        return scanWithoutTemplate(data)
    }

    /// `scan` for an event known not to match the template (`withTemplateMatch` returned false):
    /// reads the whole chunk without trying the template again, and makes it the new template.
    mutating func scanWithoutTemplate(_ data: UnsafeRawBufferPointer) -> ChatCompletionChunk? {
        guard let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var r = Reader(p: base, end: data.count)
        contentSpan = nil
        guard let chunk = scanChunk(&r) else { return nil }
        if let span = contentSpan, chunk.choices.count == 1 {
            templatePrefix.removeAll(keepingCapacity: true)
            templatePrefix.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[..<span.lowerBound]))
            templateSuffix.removeAll(keepingCapacity: true)
            let suffix = UnsafeRawBufferPointer(rebasing: data[span.upperBound...])
            if let padding = Self.padding(in: suffix) {
                templateSuffix.append(contentsOf: suffix[..<padding.lowerBound])
                templateAfterPadding = Array(suffix[padding.upperBound...])
            } else {
                templateSuffix.append(contentsOf: suffix)
                templateAfterPadding = nil
            }
            templateChunk = chunk
        }
        return chunk
    }

    /// Calls `body` with the template chunk and the new content's UTF-8 bytes (lent for the
    /// call) when `data` matches the template: neither the chunk nor a `String` of its content
    /// is built. Returns false, calling nothing, when it does not match.
    mutating func withTemplateMatch(_ data: UnsafeRawBufferPointer,
                                    _ body: (borrowing ChatCompletionChunk, UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        // No closure over `self` on the common path: one made Swift copy the whole scanner,
        // ~900 instructions an event.
        guard let content = matchTemplate(data) else { return false }
        content.withBytes(in: data, scratch: scratch) { body(templateChunk, $0) }
        return true
    }

    /// Where the content string's bytes are (escapes decoded) when the bytes of `data` around
    /// that string are the template's; nil when they are not.
    private mutating func matchTemplate(_ data: UnsafeRawBufferPointer) -> StringBytes? {
        // Where the template's suffix ends: the end of the event, or the padding's opening quote.
        var end = data.count
        if let after = templateAfterPadding {
            guard let padding = Self.paddingStart(data, endingWith: after) else { return nil }
            end = padding
        }
        let head = templatePrefix.count, tail = templateSuffix.count
        guard head > 0, end >= head + tail + 2, let base = data.baseAddress,
              templatePrefix.withUnsafeBytes({ memcmp($0.baseAddress!, base, head) == 0 }),
              tail == 0 || templateSuffix.withUnsafeBytes({ memcmp($0.baseAddress!, base + (end - tail), tail) == 0 })
        else { return nil }
        var r = Reader(p: base.assumingMemoryBound(to: UInt8.self), end: end - tail)
        r.i = head
        guard let content = Self.stringBytes(&r, &scratch), r.i == r.end else { return nil }
        return content
    }

    static let obfuscationKey: [UInt8] = Array(#","obfuscation":""#.utf8)

    /// Where the value of the first `"obfuscation"` member is in `suffix` (the bytes of a scanned
    /// chunk after its content string), when it is plain printable ASCII (no quote, no backslash):
    /// from its first byte to its closing quote. Else nil. (In bytes that scanned as JSON, the key's
    /// quotes are the JSON's own: a quote inside a string is escaped.)
    static func padding(in suffix: UnsafeRawBufferPointer) -> Range<Int>? {
        let key = obfuscationKey, n = suffix.count
        guard n > key.count else { return nil }
        var k = 0
        while k + key.count < n, !key.withUnsafeBytes({ memcmp($0.baseAddress!, suffix.baseAddress! + k, key.count) == 0 }) { k += 1 }
        guard k + key.count < n else { return nil }
        var i = k + key.count
        while i < n, Self.isPlainPadding(suffix[i]) { i += 1 }
        guard i < n, suffix[i] == UInt8(ascii: "\"") else { return nil }
        return (k + key.count)..<i
    }

    /// When `bytes` end with `after` (which starts with a quote) and before it a string of plain
    /// printable ASCII: the index of that string's first byte, just after its opening quote.
    /// Else nil.
    static func paddingStart(_ bytes: UnsafeRawBufferPointer, endingWith after: [UInt8]) -> Int? {
        let n = bytes.count, a = after.count
        guard n > a, after.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress! + (n - a), a) == 0 }) else { return nil }
        var i = n - a - 1
        while i >= 0 {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return i + 1 }
            guard isPlainPadding(b) else { return nil }
            i -= 1
        }
        return nil
    }

    /// A byte a padding may have: printable ASCII but the quote and the backslash.
    @inline(__always)
    static func isPlainPadding(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") }

    // MARK: top level

    private mutating func scanChunk(_ r: inout Reader) -> ChatCompletionChunk? {
        r.skipWhitespace()
        var idValue = "", modelValue = "", fingerprintValue: String? = nil
        var created = 0
        var choices: [ChatCompletionChunk.Choice] = []
        var usage: CompletionUsage?
        let ok = r.members(Key.top) { r, k in
            switch k {
            case Key.id:
                guard let s = Self.cachedString(&r, &id, &scratch) else { return false }
                idValue = s
            case Key.model:
                guard let s = Self.cachedString(&r, &model, &scratch) else { return false }
                modelValue = s
            case Key.fingerprint:
                if r.eatNull() { fingerprintValue = nil } else {
                    guard let s = Self.cachedString(&r, &fingerprint, &scratch) else { return false }
                    fingerprintValue = s
                }
            case Key.created:
                guard let n = r.integer() else { return false }
                created = n
            case Key.object:
                // "error" objects are in-band errors: the full path throws them.
                guard let s = r.key(), !Reader.equal(s, r.p, "error") else { return false }
            case Key.error:
                guard r.eatNull() else { return false }
            case Key.usage:
                if !r.eatNull() {
                    guard let u = Self.scanUsage(&r) else { return false }
                    usage = u
                }
            case Key.choices:
                guard scanChoices(&r, into: &choices) else { return false }
            default:
                guard r.skipValue(depth: 0) else { return false }
            }
            return true
        }
        guard ok else { return nil }
        r.skipWhitespace()
        guard r.i == r.end else { return nil }
        return ChatCompletionChunk(id: idValue, created: created, model: modelValue, systemFingerprint: fingerprintValue,
                                   choices: choices, usage: usage)
    }

    /// The `usage` object, every stream's last chunk, as `CompletionUsage(json:)` reads it: when
    /// each count it reads is a plain integer and each details member an object. Anything else (a
    /// null or fractional count, a details `null`) declines, and the full parser reads it.
    private static func scanUsage(_ r: inout Reader) -> CompletionUsage? {
        // Each count as it was read; nil: absent.
        var prompt: Int?, completion: Int?, total: Int?, cacheHit: Int?, cached: Int?, cacheWrite: Int?, reasoning: Int?
        let ok = r.members(Key.usage) { r, k in
            switch k {
            case Key.promptTokens: prompt = r.integer(); return prompt != nil
            case Key.completionTokens: completion = r.integer(); return completion != nil
            case Key.totalTokens: total = r.integer(); return total != nil
            case Key.promptCacheHitTokens: cacheHit = r.integer(); return cacheHit != nil
            case Key.promptDetails:
                return r.members(Key.promptDetails) { r, k in
                    switch k {
                    case Key.cachedTokens: cached = r.integer(); return cached != nil
                    case Key.cacheWriteTokens: cacheWrite = r.integer(); return cacheWrite != nil
                    default: return r.skipValue(depth: 2)
                    }
                }
            case Key.completionDetails:
                return r.members(Key.completionDetails) { r, k in
                    guard k == Key.reasoningTokens else { return r.skipValue(depth: 2) }
                    reasoning = r.integer()
                    return reasoning != nil
                }
            default: return r.skipValue(depth: 1)
            }
        }
        guard ok else { return nil }
        return CompletionUsage(promptTokens: prompt ?? 0, completionTokens: completion ?? 0, totalTokens: total,
                               cachedPromptTokens: cached ?? cacheHit ?? 0, cacheWriteTokens: cacheWrite ?? 0, reasoningTokens: reasoning ?? 0)
    }

    private mutating func scanChoices(_ r: inout Reader, into choices: inout [ChatCompletionChunk.Choice]) -> Bool {
        guard r.eat(UInt8(ascii: "[")) else { return false }
        r.skipWhitespace()
        if r.eat(UInt8(ascii: "]")) { return true }
        guard let choice = scanChoice(&r) else { return false }
        r.skipWhitespace()
        guard r.eat(UInt8(ascii: "]")) else { return false }  // several choices: the full path
        choices = [choice]
        return true
    }

    private mutating func scanChoice(_ r: inout Reader) -> ChatCompletionChunk.Choice? {
        var index = 0
        var finish: String?
        var delta = ChatCompletionChunk.Delta()
        let ok = r.members(Key.choice) { r, k in
            switch k {
            case Key.index:
                if !r.eatNull() {
                    guard let n = r.integer() else { return false }
                    index = n
                }
            case Key.finishReason:
                if !r.eatNull() {
                    guard let s = Self.string(&r, &scratch) else { return false }
                    finish = s
                }
            case Key.delta:
                if !r.eatNull() {
                    guard let d = scanDelta(&r) else { return false }
                    delta = d
                }
            case Key.logprobs:
                guard r.eatNull() else { return false }  // logprobs: the full path keeps them
            default:
                guard r.skipValue(depth: 1) else { return false }
            }
            return true
        }
        guard ok else { return nil }
        return ChatCompletionChunk.Choice(index: index, delta: delta, finishReason: finish.map(FinishReasonMap.openAI),
                                          providerFinishReason: finish)
    }

    private mutating func scanDelta(_ r: inout Reader) -> ChatCompletionChunk.Delta? {
        var delta = ChatCompletionChunk.Delta()
        let ok = r.members(Key.delta) { r, k in
            switch k {
            case Key.content:
                if !r.eatNull() {
                    let start = r.i
                    guard let s = Self.string(&r, &scratch) else { return false }
                    delta.content = s
                    contentSpan = start..<r.i
                }
            case Key.role:
                if !r.eatNull() {
                    guard let s = Self.string(&r, &scratch) else { return false }
                    delta.role = Role(rawValue: s)
                }
            case Key.refusal:
                if !r.eatNull() {
                    guard let s = Self.string(&r, &scratch) else { return false }
                    delta.refusal = s
                }
            case Key.toolCalls:
                guard r.eatNull() else { return false }  // tool calls: the full path
            case Key.reasoning:
                guard r.eatNull() else { return false }  // reasoning: the full path keeps it
            default:
                guard r.skipValue(depth: 2) else { return false }
            }
            return true
        }
        return ok ? delta : nil
    }

    // MARK: strings

    /// A string value, reusing `cache`'s `String` when the raw bytes are the ones it was made from.
    private static func cachedString(_ r: inout Reader, _ cache: inout CachedString, _ scratch: inout [UInt8]) -> String? {
        let save = r.i
        if let raw = r.rawString() {
            if cache.matches(raw, r.p) { return cache.value }
            guard let s = JSONEscapes.string(r.p, from: raw.lowerBound, end: raw.upperBound) else { return nil }
            cache.set(raw, r.p, s)
            return s
        }
        r.i = save
        return string(&r, &scratch)  // escapes: decoded every time (rare in ids and model names)
    }

    /// A string value with escapes decoded; `nil` for anything the full parser would treat
    /// differently (lone surrogates, invalid UTF-8, control characters, bad escapes). Also used
    /// by the Anthropic and Gemini decoders' fast paths.
    static func string(_ r: inout Reader, _ scratch: inout [UInt8]) -> String? {
        stringBytes(&r, &scratch)?.string(in: UnsafeRawBufferPointer(start: r.p, count: r.end), scratch: scratch)
    }

    /// Where a string value's UTF-8 bytes are, escapes decoded.
    enum StringBytes {
        /// In the input itself, at these indices: the string had no escapes.
        case inPlace(Range<Int>)
        /// In `scratch`, decoded there.
        case decoded

        /// `body` of the bytes: in `input`, or in `scratch`. (A static helper, not a method of the
        /// decoder: a closure over the decoder given to one of its own methods made Swift copy the
        /// whole decoder on every event.)
        @inline(__always)
        func withBytes<R>(in input: UnsafeRawBufferPointer, scratch: [UInt8], _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            switch self {
            case .inPlace(let range): body(UnsafeBufferPointer(rebasing: input.assumingMemoryBound(to: UInt8.self)[range]))
            case .decoded: scratch.withUnsafeBufferPointer(body)
            }
        }

        /// The `String` of the bytes.
        func string(in input: UnsafeRawBufferPointer, scratch: [UInt8]) -> String {
            withBytes(in: input, scratch: scratch) { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// `string` without the `String`: where its checked UTF-8 bytes are; nil for the same input.
    static func stringBytes(_ r: inout Reader, _ scratch: inout [UInt8]) -> StringBytes? {
        let save = r.i
        if let raw = r.rawString() { return JSONEscapes.isUTF8(r.p, from: raw.lowerBound, end: raw.upperBound) ? .inPlace(raw) : nil }
        r.i = save
        guard r.eat(UInt8(ascii: "\"")) else { return nil }
        scratch.removeAll(keepingCapacity: true)
        while r.i < r.end {
            let b = r.p[r.i]
            if b == UInt8(ascii: "\"") {
                r.i += 1
                return scratch.withUnsafeBufferPointer(JSONEscapes.isUTF8) ? .decoded : nil
            }
            if b < 0x20 { return nil }
            r.i += 1
            if b != UInt8(ascii: "\\") { scratch.append(b); continue }
            guard let next = JSONEscapes.decode(r.p, at: r.i, end: r.end, into: &scratch) else { return nil }
            r.i = next
        }
        return nil
    }

    // MARK: keys

    /// Bit flags for the members the scanner reads (0: skipped).
    private enum Key {
        static let id: UInt32 = 1, model: UInt32 = 2, fingerprint: UInt32 = 4, created: UInt32 = 8, object: UInt32 = 16,
                   error: UInt32 = 32, usage: UInt32 = 64, choices: UInt32 = 128
        static let index: UInt32 = 1, finishReason: UInt32 = 2, delta: UInt32 = 4, logprobs: UInt32 = 8
        static let content: UInt32 = 1, role: UInt32 = 2, refusal: UInt32 = 4, toolCalls: UInt32 = 8, reasoning: UInt32 = 16
        static let promptTokens: UInt32 = 1, completionTokens: UInt32 = 2, totalTokens: UInt32 = 4, promptCacheHitTokens: UInt32 = 8,
                   promptDetails: UInt32 = 16, completionDetails: UInt32 = 32
        static let cachedTokens: UInt32 = 1, cacheWriteTokens: UInt32 = 2, reasoningTokens: UInt32 = 4

        static func top(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 2: return Reader.equal(k, p, "id") ? id : 0
            case 5: return Reader.equal(k, p, "model") ? model : Reader.equal(k, p, "error") ? error : Reader.equal(k, p, "usage") ? usage : 0
            case 6: return Reader.equal(k, p, "object") ? object : 0
            case 7: return Reader.equal(k, p, "created") ? created : Reader.equal(k, p, "choices") ? choices : 0
            case 18: return Reader.equal(k, p, "system_fingerprint") ? fingerprint : 0
            default: return 0
            }
        }

        static func choice(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 5: return Reader.equal(k, p, "index") ? index : Reader.equal(k, p, "delta") ? delta : 0
            case 8: return Reader.equal(k, p, "logprobs") ? logprobs : 0
            case 13: return Reader.equal(k, p, "finish_reason") ? finishReason : 0
            default: return 0
            }
        }

        static func usage(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 12: return Reader.equal(k, p, "total_tokens") ? totalTokens : 0
            case 13: return Reader.equal(k, p, "prompt_tokens") ? promptTokens : 0
            case 17: return Reader.equal(k, p, "completion_tokens") ? completionTokens : 0
            case 21: return Reader.equal(k, p, "prompt_tokens_details") ? promptDetails : 0
            case 23: return Reader.equal(k, p, "prompt_cache_hit_tokens") ? promptCacheHitTokens : 0
            case 25: return Reader.equal(k, p, "completion_tokens_details") ? completionDetails : 0
            default: return 0
            }
        }

        static func promptDetails(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 13: return Reader.equal(k, p, "cached_tokens") ? cachedTokens : 0
            case 18: return Reader.equal(k, p, "cache_write_tokens") ? cacheWriteTokens : 0
            default: return 0
            }
        }

        static func completionDetails(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            k.count == 16 && Reader.equal(k, p, "reasoning_tokens") ? reasoningTokens : 0
        }

        static func delta(_ k: Range<Int>, _ p: UnsafePointer<UInt8>) -> UInt32 {
            switch k.count {
            case 4: return Reader.equal(k, p, "role") ? role : 0
            case 7: return Reader.equal(k, p, "content") ? content : Reader.equal(k, p, "refusal") ? refusal : 0
            case 9: return Reader.equal(k, p, "reasoning") ? reasoning : 0
            case 10: return Reader.equal(k, p, "tool_calls") ? toolCalls : 0
            case 17: return Reader.equal(k, p, "reasoning_content") ? reasoning : 0
            default: return 0
            }
        }
    }
}

/// A `String` made from some bytes, kept while the same bytes keep arriving.
private struct CachedString: Sendable {
    var bytes: [UInt8] = []
    var value = ""
    var valid = false

    func matches(_ raw: Range<Int>, _ p: UnsafePointer<UInt8>) -> Bool {
        guard valid, bytes.count == raw.count else { return false }
        return bytes.withUnsafeBufferPointer { b in
            let q = p + raw.lowerBound
            for k in 0..<b.count where b[k] != q[k] { return false }
            return true
        }
    }

    mutating func set(_ raw: Range<Int>, _ p: UnsafePointer<UInt8>, _ s: String) {
        bytes = Array(UnsafeBufferPointer(start: p + raw.lowerBound, count: raw.count))
        value = s
        valid = true
    }
}

/// A cursor over the event's bytes. Every method returns `nil`/`false` instead of throwing: the
/// full parser produces the error message. Shared by the chunk scanners of all three formats.
struct Reader {
    let p: UnsafePointer<UInt8>
    let end: Int
    var i = 0

    init(p: UnsafePointer<UInt8>, end: Int) {
        self.p = p
        self.end = end
    }

    mutating func skipWhitespace() {
        while i < end {
            let b = p[i]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 } else { return }
        }
    }

    mutating func eat(_ b: UInt8) -> Bool {
        if i < end && p[i] == b { i += 1; return true }
        return false
    }

    mutating func eatNull() -> Bool {
        if i + 4 <= end && p[i] == UInt8(ascii: "n") && p[i + 1] == UInt8(ascii: "u") && p[i + 2] == UInt8(ascii: "l")
            && p[i + 3] == UInt8(ascii: "l") {
            i += 4
            return true
        }
        return false
    }

    /// Reads an object, `{` to `}`, calling `member` with each member's flag from `classify` (0 for
    /// a member the caller skips) and the cursor at its value, which `member` must consume. `false`
    /// for bad syntax, a known key seen twice (the full parser keeps the last), or when `member` returns false.
    @inline(__always)  // as a call, with its closures, it cost ~10% on a full scan
    mutating func members(_ classify: (Range<Int>, UnsafePointer<UInt8>) -> UInt32,
                          _ member: (inout Reader, UInt32) -> Bool) -> Bool {
        guard eat(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if eat(UInt8(ascii: "}")) { return true }
        var seen: UInt32 = 0
        while true {
            skipWhitespace()
            guard let key = key() else { return false }
            skipWhitespace()
            guard eat(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            let k = classify(key, p)
            if k != 0 {
                if seen & k != 0 { return false }
                seen |= k
            }
            guard member(&self, k) else { return false }
            skipWhitespace()
            if eat(UInt8(ascii: ",")) { continue }
            return eat(UInt8(ascii: "}"))
        }
    }

    /// A key without escapes, as a byte range (escaped keys go to the full parser). Also for
    /// other strings that are compared but never decoded: they must be ASCII, because nothing
    /// else checks that their bytes are UTF-8, which the full parser requires (found by fuzzing).
    mutating func key() -> Range<Int>? {
        guard let k = rawString() else { return nil }
        for j in k where p[j] >= 0x80 { return nil }
        return k
    }

    /// A string without backslashes or control characters, as the range of its bytes; `nil`
    /// (cursor unspecified) otherwise.
    mutating func rawString() -> Range<Int>? {
        guard eat(UInt8(ascii: "\"")) else { return nil }
        let start = i
        i = JSONEscapes.plainRunEnd(p, from: start, end: end)
        guard i < end, p[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        return start..<(i - 1)
    }

    static func equal(_ k: Range<Int>, _ p: UnsafePointer<UInt8>, _ word: StaticString) -> Bool {
        guard k.count == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start, q = p + k.lowerBound
        for j in 0..<k.count where q[j] != w[j] { return false }
        return true
    }

    /// A plain integer (`-?(0|[1-9][0-9]*)`, at most 18 digits) not followed by a fraction or exponent.
    mutating func integer() -> Int? {
        var k = i
        let negative = k < end && p[k] == UInt8(ascii: "-")
        if negative { k += 1 }
        let digits = k
        var v = 0
        while k < end, p[k] >= UInt8(ascii: "0"), p[k] <= UInt8(ascii: "9") {
            v = v &* 10 &+ Int(p[k] &- UInt8(ascii: "0"))
            k += 1
        }
        let n = k - digits
        guard n > 0, n <= 18, !(n > 1 && p[digits] == UInt8(ascii: "0")) else { return nil }
        if k < end, p[k] == UInt8(ascii: ".") || p[k] == UInt8(ascii: "e") || p[k] == UInt8(ascii: "E") { return nil }
        i = k
        return negative ? -v : v
    }

    /// Skips one JSON value, checking it as strictly as the full parser would; `false` for
    /// anything doubtful (including non-ASCII or `\u` escapes in skipped strings, whose validity
    /// the full parser decides).
    mutating func skipValue(depth: Int) -> Bool {
        guard i < end, depth < 64 else { return false }
        switch p[i] {
        case UInt8(ascii: "\""):
            i += 1
            while i < end {
                let b = p[i]
                i += 1
                if b == UInt8(ascii: "\"") { return true }
                if b < 0x20 || b >= 0x80 { return false }
                if b == UInt8(ascii: "\\") {
                    guard i < end else { return false }
                    switch p[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): i += 1
                    default: return false
                    }
                }
            }
            return false
        case UInt8(ascii: "{"):
            i += 1
            skipWhitespace()
            if eat(UInt8(ascii: "}")) { return true }
            while true {
                skipWhitespace()
                guard key() != nil else { return false }
                skipWhitespace()
                guard eat(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
                if eat(UInt8(ascii: ",")) { continue }
                return eat(UInt8(ascii: "}"))
            }
        case UInt8(ascii: "["):
            i += 1
            skipWhitespace()
            if eat(UInt8(ascii: "]")) { return true }
            while true {
                skipWhitespace()
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
                if eat(UInt8(ascii: ",")) { continue }
                return eat(UInt8(ascii: "]"))
            }
        case UInt8(ascii: "n"): return eatNull()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= end, Self.equal(i..<(i + n), p, word) else { return false }
        i += n
        return true
    }

    /// A JSON number of any form that the full parser accepts: the grammar, and a finite Double.
    mutating func number() -> Bool {
        var k = i
        if k < end && p[k] == UInt8(ascii: "-") { k += 1 }
        func digits(_ k: inout Int) -> Int {
            let s = k
            while k < end, p[k] >= UInt8(ascii: "0"), p[k] <= UInt8(ascii: "9") { k += 1 }
            return k - s
        }
        let first = k
        let n = digits(&k)
        guard n > 0, !(n > 1 && p[first] == UInt8(ascii: "0")) else { return false }
        if k < end && p[k] == UInt8(ascii: ".") {
            k += 1
            guard digits(&k) > 0 else { return false }
        }
        if k < end && (p[k] == UInt8(ascii: "e") || p[k] == UInt8(ascii: "E")) {
            k += 1
            if k < end && (p[k] == UInt8(ascii: "+") || p[k] == UInt8(ascii: "-")) { k += 1 }
            guard digits(&k) > 0 else { return false }
            // The full parser refuses a number no Double holds (`9E88888`); exponents are rare.
            guard Double(String(decoding: UnsafeBufferPointer(start: p + i, count: k - i), as: UTF8.self))?.isFinite == true else { return false }
        } else if n > 300 {
            return false  // as many digits as a Double's range: the full parser decides
        }
        i = k
        return true
    }
}
