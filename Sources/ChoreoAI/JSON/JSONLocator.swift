/// Where each value of a JSON document starts, by key path (`providers[1].base_url`), so that an
/// error about what a document *means* can name its line, as a syntax error names its byte.
///
/// Run it on text `JSONValue.parse` accepted: it scans without re-validating. It also finds what
/// the parser forgives: a key repeated in one object (the parser keeps the last value silently).
struct JSONLocator {
    private let bytes: [UInt8]
    /// Key path → offset of the member's key (for members) or of the value (for the root and
    /// array elements).
    private(set) var offsets: [String: Int] = [:]
    /// Keys that appear twice in one object, in document order, at the second occurrence.
    private(set) var duplicateKeys: [(path: String, offset: Int)] = []

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var i = 0
        scanValue(at: "", &i)
    }

    /// The path of member `key` of the object at `path`.
    static func path(_ path: String, key: String) -> String { path.isEmpty ? key : path + "." + key }
    /// The path of element `index` of the array at `path`.
    static func path(_ path: String, index: Int) -> String { path + "[\(index)]" }

    /// The 1-based line and column (in characters) of `path`, or of its nearest located ancestor
    /// (a missing key is reported where its object starts).
    func position(of path: String) -> (line: Int, column: Int) {
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

    private func skipWhitespace(_ i: inout Int) {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private func skipString(_ i: inout Int) {
        i += 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
        i += 1
    }

    private mutating func scanValue(at path: String, _ i: inout Int) {
        skipWhitespace(&i)
        guard i < bytes.count else { return }
        if offsets[path] == nil { offsets[path] = i }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var seen: Set<String> = []
            while true {
                skipWhitespace(&i)
                guard i < bytes.count, bytes[i] != UInt8(ascii: "}") else { i += 1; return }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                let keyStart = i
                skipString(&i)
                let key = (try? JSONValue.parse(bytes[keyStart..<min(i, bytes.count)]))?.stringValue ?? ""
                let member = Self.path(path, key: key)
                if seen.insert(key).inserted { offsets[member] = keyStart } else { duplicateKeys.append((member, keyStart)) }
                skipWhitespace(&i)
                i += 1  // ':'
                scanValue(at: member, &i)
            }
        case UInt8(ascii: "["):
            i += 1
            var index = 0
            while true {
                skipWhitespace(&i)
                guard i < bytes.count, bytes[i] != UInt8(ascii: "]") else { i += 1; return }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                scanValue(at: Self.path(path, index: index), &i)
                index += 1
            }
        case UInt8(ascii: "\""):
            skipString(&i)
        default:
            while i < bytes.count, !",]} \t\r\n".utf8.contains(bytes[i]) { i += 1 }
        }
    }
}
