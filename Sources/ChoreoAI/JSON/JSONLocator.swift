/// Where each value of a JSON document starts, by key path (`providers[1].base_url`), so that an
/// error about what a document *means* can name its line, as a syntax error names its byte.
///
/// Run it on text `JSONValue.parse` accepted: it scans without re-validating. It also finds what
/// the parser forgives: a key repeated in one object (the parser keeps the last value silently).
public struct JSONLocator {
    private let bytes: [UInt8]
    /// Key path → offset of the member's key (for members) or of the value (for the root and
    /// array elements).
    private(set) var offsets: [String: Int] = [:]
    /// Keys that appear twice in one object, in document order, at the second occurrence.
    public private(set) var duplicateKeys: [(path: String, offset: Int)] = []

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var i = 0
        bytes.withUnsafeBufferPointer { b in scanValue(b, at: "", &i) }
    }

    /// The byte range of the value of member `key` of the object `bytes` (the last one when the
    /// key repeats), or nil when `bytes` is not an object or the key is absent or written with
    /// escapes. Builds no values and no paths: it lets a caller keep a member's text exactly as
    /// written (a batch line's `body`) instead of printing its parsed value again.
    public static func valueRange(ofMember key: String, in bytes: [UInt8]) -> Range<Int>? {
        let wanted = Array(key.utf8)
        return bytes.withUnsafeBufferPointer { b -> Range<Int>? in
            var i = 0
            var found: Range<Int>?
            skipWhitespace(b, &i)
            guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            while true {
                skipWhitespace(b, &i)
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { return found }
                let keyStart = i + 1
                skipString(b, &i)
                let keyEnd = i - 1
                let matches = keyEnd - keyStart == wanted.count && wanted.indices.allSatisfy { b[keyStart + $0] == wanted[$0] }
                skipWhitespace(b, &i)
                i += 1  // ':'
                skipWhitespace(b, &i)
                let valueStart = i
                skipValue(b, &i)
                if matches { found = valueStart..<i }
                skipWhitespace(b, &i)
                guard i < b.count, b[i] == UInt8(ascii: ",") else { return found }
                i += 1
            }
        }
    }

    /// The path of member `key` of the object at `path`.
    public static func path(_ path: String, key: String) -> String { path.isEmpty ? key : path + "." + key }
    /// The path of element `index` of the array at `path`.
    static func path(_ path: String, index: Int) -> String { path + "[\(index)]" }

    /// The 1-based line and column (in characters) of `path`, or of its nearest located ancestor
    /// (a missing key is reported where its object starts).
    public func position(of path: String) -> (line: Int, column: Int) {
        var p = Substring(path)
        while !p.isEmpty, offsets[String(p)] == nil {
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { p = ""; break }
            p = p[..<cut]
        }
        return position(ofOffset: offsets[String(p)] ?? 0)
    }

    /// The 1-based line and column of byte `offset`.
    func position(ofOffset offset: Int) -> (line: Int, column: Int) { Self.position(ofOffset: offset, in: bytes) }

    static func position(ofOffset offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for b in bytes.prefix(offset) {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return (line, column)
    }

    // The scanning steps, shared by `init` and `valueRange`. Each starts at `i` and leaves `i` just
    // past what it skipped.

    private static func skipWhitespace(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    /// From the opening quote of a string.
    private static func skipString(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        i += 1
        while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
        i += 1
    }

    /// A number, `true`, `false` or `null`.
    private static func skipScalar(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        while i < b.count, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]"),
              b[i] != 0x20, b[i] != 0x0A, b[i] != 0x0D, b[i] != 0x09 { i += 1 }
    }

    /// A whole value, containers included (by depth, without recursion).
    private static func skipValue(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        guard i < b.count else { return }
        switch b[i] {
        case UInt8(ascii: "\""): skipString(b, &i)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            repeat {
                switch b[i] {
                case UInt8(ascii: "\""): skipString(b, &i); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                i += 1
            } while depth > 0 && i < b.count
        default: skipScalar(b, &i)
        }
    }

    private mutating func scanValue(_ bytes: UnsafeBufferPointer<UInt8>, at path: String, _ i: inout Int) {
        Self.skipWhitespace(bytes, &i)
        guard i < bytes.count else { return }
        if offsets[path] == nil { offsets[path] = i }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var seen: Set<String> = []
            while true {
                Self.skipWhitespace(bytes, &i)
                guard i < bytes.count, bytes[i] != UInt8(ascii: "}") else { i += 1; return }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                let keyStart = i
                Self.skipString(bytes, &i)
                let key = (try? JSONValue.parse(bytes[keyStart..<min(i, bytes.count)]))?.stringValue ?? ""
                let member = Self.path(path, key: key)
                if seen.insert(key).inserted { offsets[member] = keyStart } else { duplicateKeys.append((member, keyStart)) }
                Self.skipWhitespace(bytes, &i)
                i += 1  // ':'
                scanValue(bytes, at: member, &i)
            }
        case UInt8(ascii: "["):
            i += 1
            var index = 0
            while true {
                Self.skipWhitespace(bytes, &i)
                guard i < bytes.count, bytes[i] != UInt8(ascii: "]") else { i += 1; return }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                scanValue(bytes, at: Self.path(path, index: index), &i)
                index += 1
            }
        case UInt8(ascii: "\""):
            Self.skipString(bytes, &i)
        default:
            Self.skipScalar(bytes, &i)
        }
    }
}
