/// Finds where a top-level member's value lies in the text of a JSON object, without building
/// values. Used on lines the parser has already accepted, so that a batch line's `body` can be
/// stored exactly as submitted instead of being printed again (a tenth of a million-line submit).
enum JSONMemberScanner {
    /// The byte range of the value of `key` in the object `bytes` (the last one if the key repeats),
    /// or nil when the key is absent or written with escapes. `bytes` must be valid JSON.
    static func valueRange(ofKey key: String, in bytes: [UInt8]) -> Range<Int>? {
        let wanted = Array(key.utf8)
        return bytes.withUnsafeBufferPointer { b -> Range<Int>? in
            var i = 0
            func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
            /// Moves past the string starting at `i` (on its opening quote).
            func skipString() {
                i += 1
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            }
            func skipValue() {
                switch b[i] {
                case UInt8(ascii: "\""): skipString()
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    var depth = 0
                    repeat {
                        switch b[i] {
                        case UInt8(ascii: "\""): skipString(); continue
                        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                        case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                        default: break
                        }
                        i += 1
                    } while depth > 0 && i < b.count
                default:
                    while i < b.count, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]"),
                          b[i] != 0x20, b[i] != 0x0A, b[i] != 0x0D, b[i] != 0x09 { i += 1 }
                }
            }

            var found: Range<Int>?
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { return found }
                let keyStart = i + 1
                skipString()
                let keyEnd = i - 1
                let matches = keyEnd - keyStart == wanted.count && wanted.indices.allSatisfy { b[keyStart + $0] == wanted[$0] }
                skipSpace()
                i += 1  // ':'
                skipSpace()
                let valueStart = i
                skipValue()
                if matches { found = valueStart..<i }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ",") else { return found }
                i += 1
            }
        }
    }
}
