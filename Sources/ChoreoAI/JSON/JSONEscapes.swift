/// JSON's string escapes decoded from UTF-8 bytes in place: the one decoder of the byte-level
/// readers (`OpenAIChunkScanner`, submit's job-line scan), which decline anything it refuses to
/// the full parser. `JSONParser` keeps its own, which also says what is wrong and where.
public enum JSONEscapes {
    /// Where the plain run of a JSON string's bytes that starts at `k` ends: the index of the
    /// first quote, backslash or control character (below 0x20) before `end`, or `end`. Eight
    /// bytes at a time, since prose has such a byte every few hundred: a loop byte by byte cost
    /// ~10 instructions a byte, and a job with a 5 KB system prompt writes and reads it several
    /// times (BENCHMARKS.md, "Round 11").
    @inline(__always)
    public static func plainRunEnd(_ p: UnsafePointer<UInt8>, from k: Int, end: Int) -> Int {
        var i = k
        while i + 8 <= end {
            let hits = runEnders(UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)))
            if hits != 0 { return i + hits.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < end {
            let b = p[i]
            if b == 0x22 || b == 0x5C || b < 0x20 { return i }
            i += 1
        }
        return end
    }

    /// The high bit of each of the eight bytes of `w` (the first in the lowest bits) that is a
    /// quote, a backslash or below 0x20, by the classic bit tricks: a byte is zero when
    /// subtracting 1 borrows into its high bit and it had none. A borrow only runs upwards from a
    /// byte that is one, so the lowest bit set is always a true one (a byte above it may be
    /// marked wrongly).
    @inline(__always)
    static func runEnders(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
        let zeroInQuote = (quote &- ones) & ~quote, zeroInBackslash = (backslash &- ones) & ~backslash
        let below20 = (w &- ones &* 0x20) & ~w
        return (zeroInQuote | zeroInBackslash | below20) & highs
    }

    /// Whether the bytes `k..<end` are all ASCII, eight at a time.
    @inline(__always)
    public static func isASCII(_ p: UnsafePointer<UInt8>, from k: Int, end: Int) -> Bool {
        var i = k, any: UInt64 = 0
        while i + 8 <= end { any |= UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self); i += 8 }
        while i < end { any |= UInt64(p[i]); i += 1 }
        return any & 0x8080_8080_8080_8080 == 0
    }

    /// The `String` of the UTF-8 bytes `p[k..<end]`, or nil when they are not valid UTF-8 (what a
    /// JSON parser must refuse). ASCII is checked eight bytes at a time; other text is validated
    /// here and then decoded, because `String(validating:as:)` cost ~1,000 instructions a short
    /// string (its generic path), five times the decode: a chunk of non-English text paid it on
    /// every read.
    public static func string(_ p: UnsafePointer<UInt8>, from k: Int, end: Int) -> String? {
        guard isUTF8(p, from: k, end: end) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p + k, count: end - k), as: UTF8.self)
    }

    /// Whether `p[k..<end]` is valid UTF-8: ASCII eight bytes at a time, else `isValidUTF8`.
    @inline(__always)
    static func isUTF8(_ p: UnsafePointer<UInt8>, from k: Int, end: Int) -> Bool {
        isASCII(p, from: k, end: end) || isValidUTF8(p, from: k, end: end)
    }

    /// `isUTF8` of all of `bytes` (none: valid).
    static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = bytes.baseAddress else { return true }
        return isUTF8(p, from: 0, end: bytes.count)
    }

    /// The `String` of the UTF-8 `bytes`, or nil when they are not valid UTF-8 (as above).
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        isUTF8(bytes) ? String(decoding: bytes, as: UTF8.self) : nil
    }

    /// Whether `p[k..<end]` is well-formed UTF-8 (Unicode 15, table 3-7): no overlong forms, no
    /// surrogates, nothing past U+10FFFF, no truncated sequence.
    public static func isValidUTF8(_ p: UnsafePointer<UInt8>, from k: Int, end: Int) -> Bool {
        var i = k
        while i < end {
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            // The range the second byte must fall in, and how many continuation bytes follow it.
            let low: UInt8, high: UInt8, more: Int
            switch b {
            case 0xC2...0xDF: (low, high, more) = (0x80, 0xBF, 0)
            case 0xE0: (low, high, more) = (0xA0, 0xBF, 1)
            case 0xE1...0xEC, 0xEE, 0xEF: (low, high, more) = (0x80, 0xBF, 1)
            case 0xED: (low, high, more) = (0x80, 0x9F, 1)
            case 0xF0: (low, high, more) = (0x90, 0xBF, 2)
            case 0xF1...0xF3: (low, high, more) = (0x80, 0xBF, 2)
            case 0xF4: (low, high, more) = (0x80, 0x8F, 2)
            default: return false
            }
            guard i + 1 + more < end, p[i + 1] >= low, p[i + 1] <= high else { return false }
            for j in 0..<more where p[i + 2 + j] & 0xC0 != 0x80 { return false }
            i += 2 + more
        }
        return true
    }

    /// Decodes the escape whose letter is `bytes[k]` (the byte after a backslash) and appends the
    /// UTF-8 it stands for to `out`. Returns the index after it; nil for an unknown escape, a bad
    /// `\u`, or a lone or misordered surrogate. Reads nothing at or past `end`.
    public static func decode(_ bytes: UnsafePointer<UInt8>, at k: Int, end: Int, into out: inout [UInt8]) -> Int? {
        guard k < end else { return nil }
        switch bytes[k] {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            guard var scalar = hex4(bytes, at: k + 1, end: end) else { return nil }
            var next = k + 5
            if scalar >= 0xD800 && scalar < 0xDC00 {
                // A high surrogate must be followed by an escaped low surrogate.
                guard next + 1 < end, bytes[next] == UInt8(ascii: "\\"), bytes[next + 1] == UInt8(ascii: "u"),
                      let low = hex4(bytes, at: next + 2, end: end), low >= 0xDC00 && low < 0xE000 else { return nil }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                next += 6
            } else if scalar >= 0xDC00 && scalar < 0xE000 {
                return nil
            }
            appendUTF8(scalar, to: &out)
            return next
        default:
            return nil
        }
        return k + 1
    }

    /// The four hex digits at `k`, nil when any is not one.
    static func hex4(_ bytes: UnsafePointer<UInt8>, at k: Int, end: Int) -> UInt32? {
        guard k + 4 <= end else { return nil }
        var v: UInt32 = 0
        for j in k..<k + 4 {
            let c = bytes[j]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// Appends the UTF-8 of the scalar `v` (no surrogate: the caller checked).
    static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        if v < 0x80 {
            out.append(UInt8(v))
        } else if v < 0x800 {
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }
}
