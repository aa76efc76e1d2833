import ChoreoAI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast path of `JobLineValidator.validate` for the lines most files are made of: chat
/// completions, short form or OpenAI Batch. A scan of the line's bytes reads the top level, the
/// body and its messages in place, without the JSON tree and its dictionaries; the other values
/// (tools, response_format, a content array, …) go through the strict parser one at a time.
///
/// The fast path has no errors of its own: anything it is not sure about (a problem, another
/// endpoint, an escaped or non-ASCII key, a shape it does not read) returns nil, and the full
/// validator decides and says why. When it accepts a line, it has checked what the full validator
/// checks, with the same functions where they take a value (`problem` and `checkParameter` for
/// each body member, as `checkKnownFields` and `checkParameters` call them; `route`, `priority`,
/// `timeout`, `modelNameProblem`; the message roles of `roles`), and it stores the same bytes:
/// the body as submitted, or printed again as `JSONValue.jsonString` prints it (keys sorted,
/// strings escaped its way). `FastPathDifferentialTests` and the `job-line-fast` fuzz target hold
/// the two paths to that.
extension JobLineValidator {
    func validatedByScan(line: Int, bytes: [UInt8]) -> ValidatedJob? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = ChatLineScanner(buffer)
            guard scanner.scanLine() else { return nil }
            return accept(scanner, line: line)
        }
    }

    private func accept(_ s: ChatLineScanner, line: Int) -> ValidatedJob? {
        func fail(_ field: String?, _ code: String, _ message: String) -> JobLineError {
            JobLineError(line: line, field: field, code: code, message: message)
        }
        var customID = "line-\(line)"
        if let id = s.member("custom_id", of: s.top) {
            guard let text = id.value.stringValue, !text.isEmpty else { return nil }
            customID = text
        }
        let bodyMember = s.member("body", of: s.top)
        let isBatchForm = bodyMember != nil || s.member("method", of: s.top) != nil || s.member("url", of: s.top) != nil
        var priority: Int?
        var timeout: Double?
        let body: ArraySlice<ScannedMember>
        let prefix: String
        do {
            if isBatchForm {
                if let method = s.member("method", of: s.top), method.value.stringValue != "POST" { return nil }
                if let url = s.member("url", of: s.top), url.value.stringValue != JobEndpoint.chatCompletions.rawValue { return nil }
                for m in s.top where !Self.batchLineFields.contains(s.key(m)) { return nil }
                priority = try Self.priority(s.member("priority", of: s.top)?.value, fail: fail)
                timeout = try Self.timeout(s.member("timeout", of: s.top)?.value, fail: fail)
                guard bodyMember?.readInPlace == true else { return nil }
                body = s.body[...]
                prefix = "body."
            } else {
                // The body is the line without its custom_id, which the scan keeps first.
                body = s.top.dropFirst(s.top.first.map { s.isKey($0, "custom_id") } == true ? 1 : 0)
                prefix = ""
            }
            guard let model = s.member("model", of: body)?.value.stringValue, Self.modelNameProblem(model) == nil else { return nil }
            guard s.member("messages", of: body)?.readInPlace == true else { return nil }
            // `checkKnownFields` and `checkParameters`, member by member (the messages were
            // checked by the scan; no problem or parameter check looks at their value).
            let provider = try route(model, path: prefix + "model", fail: fail)
            for m in body {
                let key = s.key(m)
                if problem(key, m.value, prefix, fail) != nil { return nil }
                if key == "extra_body", m.value.objectValue == nil { return nil }
                try checkParameter(key, m.value, provider: provider, prefix: prefix, fail: fail)
            }

            let metadata = (isBatchForm ? s.member("metadata", of: s.top) : nil) ?? s.member("metadata", of: body)
            if let m = metadata?.value, !m.isNull, m.objectValue == nil { return nil }

            // The runner decides about streaming; a submitted "stream" is accepted and dropped.
            let streamed = s.member("stream", of: body) != nil || s.member("stream_options", of: body) != nil
            let requestText = isBatchForm && !streamed
                ? s.text(ofLine: bodyMember!.raw)
                : s.objectText(body, leavingOut: ["stream", "stream_options"])
            return ValidatedJob(line: line, customID: customID, model: model, endpoint: .chatCompletions, requestText: requestText,
                                metadata: metadata.flatMap { $0.value.isNull ? nil : s.canonicalText($0) }, priority: priority, timeout: timeout)
        } catch {
            return nil
        }
    }
}

/// A member of an object the scanner read: where its key and value are in the line, its value's
/// text as `JSONValue.jsonString` prints it, and the value itself (`.null` standing in for the
/// messages and a batch line's body, which are read in place and not built: `readInPlace`).
struct ScannedMember {
    var key: Range<Int>
    var raw: Range<Int>
    var text: Range<Int>
    var value: JSONValue
    var readInPlace = false
}

/// Reads one job line's bytes for the fast path. Every method returns false (or nil) at the first
/// thing it does not read exactly as the strict parser would, and the line goes to the full
/// validator. Keys must be ASCII without escapes: two of them are the same key exactly when their
/// bytes are equal, and they sort by their bytes as `String` sorts them.
struct ChatLineScanner {
    private let b: UnsafeBufferPointer<UInt8>
    private var i = 0
    /// The printed text of every value read, which `ScannedMember.text` ranges point into.
    private var texts: [UInt8] = []
    private(set) var top: [ScannedMember] = []
    /// The members of the top level's `body`, when it is an object (read in place).
    private(set) var body: [ScannedMember] = []
    /// A string held a byte of 0x80 or more: the line's UTF-8 is checked at the end.
    private var sawNonASCII = false

    /// Objects with more members than this go to the full validator (the duplicate check is
    /// pairwise), and so do values nested deeper than `maxNesting` (the parser's limit is 512).
    private static let maxMembers = 32
    private static let maxNesting = 256

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        b = bytes
        texts.reserveCapacity(bytes.count + 64)
    }

    // MARK: Reading what was scanned

    func key(_ m: ScannedMember) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[m.key]), as: UTF8.self) }

    func member(_ name: StaticString, of members: some Sequence<ScannedMember>) -> ScannedMember? {
        members.first { keyEquals($0.key, name) }
    }

    func isKey(_ m: ScannedMember, _ name: StaticString) -> Bool { keyEquals(m.key, name) }

    func text(ofLine range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) }

    func canonicalText(_ m: ScannedMember) -> String { String(decoding: texts[m.text], as: UTF8.self) }

    /// `members` but those named in `leavingOut`, as one object printed as `JSONValue.jsonString`
    /// prints it: keys sorted.
    func objectText(_ members: ArraySlice<ScannedMember>, leavingOut: [StaticString] = []) -> String {
        String(unsafeUninitializedCapacity: Self.objectSize(members)) { out in
            texts.withUnsafeBufferPointer { source in
                var n = 0
                writeObject(members, leavingOut: leavingOut, from: source, to: out, at: &n)
                return n
            }
        }
    }

    /// At most how many bytes `writeObject` writes for `members`.
    private static func objectSize(_ members: ArraySlice<ScannedMember>) -> Int {
        var count = 2
        for m in members { count += m.key.count + m.text.count + 4 }
        return count
    }

    /// Writes `members` (but those named in `leavingOut`) as an object, keys sorted, their
    /// values' text taken from `source`, at `out[n...]`, which has room for it (`objectSize`).
    private func writeObject(_ members: ArraySlice<ScannedMember>, leavingOut: [StaticString], from source: UnsafeBufferPointer<UInt8>,
                             to out: UnsafeMutableBufferPointer<UInt8>, at n: inout Int) {
        func put(_ c: UInt8) { out[n] = c; n += 1 }
        func put(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard !bytes.isEmpty else { return }
            (out.baseAddress! + n).update(from: bytes.baseAddress!, count: bytes.count)
            n += bytes.count
        }
        put(UInt8(ascii: "{"))
        withUnsafeTemporaryAllocation(of: Int.self, capacity: members.count) { order in
            // Insertion sort of the member indices by key: objects here have a few members.
            var sorted = 0
            for index in members.indices where !leavingOut.contains(where: { keyEquals(members[index].key, $0) }) {
                var k = sorted
                while k > 0, keyLess(members[index].key, members[order[k - 1]].key) {
                    order[k] = order[k - 1]
                    k -= 1
                }
                order[k] = index
                sorted += 1
            }
            for k in 0..<sorted {
                let m = members[order[k]]
                if k > 0 { put(UInt8(ascii: ",")) }
                put(UInt8(ascii: "\""))
                put(UnsafeBufferPointer(rebasing: b[m.key]))
                put(UInt8(ascii: "\""))
                put(UInt8(ascii: ":"))
                put(UnsafeBufferPointer(rebasing: source[m.text]))
            }
        }
        put(UInt8(ascii: "}"))
    }

    private func keyEquals(_ key: Range<Int>, _ name: StaticString) -> Bool {
        key.count == name.utf8CodeUnitCount && memcmp(b.baseAddress! + key.lowerBound, name.utf8Start, key.count) == 0
    }

    /// Keys are ASCII: byte order is `String` order.
    private func keyLess(_ x: Range<Int>, _ y: Range<Int>) -> Bool {
        let common = min(x.count, y.count)
        let c = common == 0 ? 0 : memcmp(b.baseAddress! + x.lowerBound, b.baseAddress! + y.lowerBound, common)
        return c != 0 ? c < 0 : x.count < y.count
    }

    private func sameKey(_ x: Range<Int>, _ y: Range<Int>) -> Bool {
        x.count == y.count && (x.isEmpty || memcmp(b.baseAddress! + x.lowerBound, b.baseAddress! + y.lowerBound, x.count) == 0)
    }

    // MARK: Scanning

    /// Reads the whole line: an object, and nothing after it but whitespace.
    mutating func scanLine() -> Bool {
        skipWhitespace()
        guard let members = scanObject(level: .top) else { return false }
        top = members
        skipWhitespace()
        guard i == b.count else { return false }
        if sawNonASCII, let base = b.baseAddress, !JSONEscapes.isValidUTF8(base, from: 0, end: b.count) { return false }
        return true
    }

    private enum Level { case top, body }

    /// The members of the object at `i`, each value read by what its key is at this level.
    private mutating func scanObject(level: Level) -> [ScannedMember]? {
        guard at(UInt8(ascii: "{")) else { return nil }
        i += 1
        var members: [ScannedMember] = []
        skipWhitespace()
        if at(UInt8(ascii: "}")) { i += 1; return members }
        while true {
            guard let key = scanMemberKey(after: members) else { return nil }
            let start = i
            let textStart = texts.count
            var value = JSONValue.null
            var readInPlace = true
            if level == .top, keyEquals(key, "body"), at(UInt8(ascii: "{")) {
                guard let inner = scanObject(level: .body) else { return nil }
                body = inner
            } else if keyEquals(key, "messages"), at(UInt8(ascii: "[")) {
                guard scanMessages() else { return nil }
            } else {
                guard let v = scanValue() else { return nil }
                value = v
                readInPlace = false
            }
            members.append(ScannedMember(key: key, raw: start..<i, text: textStart..<texts.count, value: value, readInPlace: readInPlace))
            // A top-level custom_id goes first: the short form's body is the rest.
            if level == .top, keyEquals(key, "custom_id") { members.swapAt(0, members.count - 1) }
            skipWhitespace()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return members }
            return nil
        }
    }

    /// A non-empty array of messages, each an object with a known `role` and a string, array or
    /// null `content` (which only an assistant message may leave out), as `checkMessages` wants.
    /// Their text goes to `texts` as one array, each message's keys sorted.
    private mutating func scanMessages() -> Bool {
        i += 1
        skipWhitespace()
        if at(UInt8(ascii: "]")) { return false }
        texts.append(UInt8(ascii: "["))
        var first = true
        var members: [ScannedMember] = []
        while true {
            skipWhitespace()
            if !first { texts.append(UInt8(ascii: ",")) }
            first = false
            // The message's values are written at `start`, then the message printed from them
            // after them, then moved down over them.
            let start = texts.count
            guard at(UInt8(ascii: "{")), scanMessage(into: &members) else { return false }
            let end = texts.count
            var buffer: [UInt8] = []
            swap(&buffer, &texts)  // not a copy: `writeObject` reads `self` while it is written
            buffer.append(contentsOf: repeatElement(0, count: Self.objectSize(members[...])))
            let written = buffer.withUnsafeMutableBufferPointer { t in
                var n = end
                writeObject(members[...], leavingOut: [], from: UnsafeBufferPointer(t), to: t, at: &n)
                return n
            }
            buffer.removeSubrange(written...)
            buffer.removeSubrange(start..<end)
            swap(&buffer, &texts)
            skipWhitespace()
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; break }
            return false
        }
        texts.append(UInt8(ascii: "]"))
        return true
    }

    /// One message, its members into `members` (emptied first).
    private mutating func scanMessage(into members: inout [ScannedMember]) -> Bool {
        i += 1
        members.removeAll(keepingCapacity: true)
        var role: String?
        var hasContent = false
        skipWhitespace()
        if !at(UInt8(ascii: "}")) {
            while true {
                guard let key = scanMemberKey(after: members) else { return false }
                let start = i
                let textStart = texts.count
                if keyEquals(key, "role") {
                    // A role with an escape or of another type goes to the full validator.
                    guard at(UInt8(ascii: "\"")), let string = scanString(), !string.hasEscape else { return false }
                    let name = String(decoding: UnsafeBufferPointer(rebasing: b[string.content]), as: UTF8.self)
                    guard JobLineValidator.roles.contains(name) else { return false }
                    role = name
                    texts.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                } else if keyEquals(key, "content") {
                    guard i < b.count else { return false }
                    switch b[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "n"):
                        guard scanValue(keepingValue: false) != nil else { return false }
                    default:
                        return false
                    }
                    hasContent = true
                } else {
                    guard scanValue(keepingValue: false) != nil else { return false }
                }
                members.append(ScannedMember(key: key, raw: start..<i, text: textStart..<texts.count, value: .null))
                skipWhitespace()
                guard i < b.count else { return false }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { break }
                return false
            }
        }
        i += 1
        // An assistant turn that only called tools has no content.
        guard let role, hasContent || role == "assistant" else { return false }
        return true
    }

    /// A member's key and its colon, whitespace around them skipped: nil past `maxMembers`, for a
    /// key `members` already has, or for anything but `"key":`. Leaves `i` at the value.
    private mutating func scanMemberKey(after members: [ScannedMember]) -> Range<Int>? {
        skipWhitespace()
        guard let key = scanKey(), members.count < Self.maxMembers else { return nil }
        if members.contains(where: { sameKey($0.key, key) }) { return nil }
        skipWhitespace()
        guard at(UInt8(ascii: ":")) else { return nil }
        i += 1
        skipWhitespace()
        return key
    }

    /// A key: a string of ASCII bytes without escapes (the range is its bytes, without quotes).
    private mutating func scanKey() -> Range<Int>? {
        guard at(UInt8(ascii: "\"")) else { return nil }
        let start = i + 1
        var k = start
        while k < b.count {
            let c = b[k]
            if c == UInt8(ascii: "\"") { i = k + 1; return start..<k }
            if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\\") { return nil }
            k += 1
        }
        return nil
    }

    /// Any value at `i`: its text is appended to `texts`. The value is built unless
    /// `keepingValue` is false (then `.null` comes back for any value read).
    private mutating func scanValue(keepingValue: Bool = true) -> JSONValue? {
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "\""):
            let start = i
            guard let string = scanString() else { return nil }
            if string.printsAsWritten {
                texts.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                guard keepingValue else { return .null }
                if !string.hasEscape { return .string(String(decoding: UnsafeBufferPointer(rebasing: b[string.content]), as: UTF8.self)) }
            }
            // Escapes: decoded as the parser decodes them, printed as `jsonString` prints them.
            guard let decoded = decode(string.content) else { return nil }
            let s = String(decoding: decoded, as: UTF8.self)
            if !string.printsAsWritten { texts.append(contentsOf: JSONValue.quoted(s).utf8) }
            return keepingValue ? .string(s) : .null
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            // Read by the strict parser: a value it takes whole from here is the one it would
            // take from the whole line.
            let start = i
            guard skipContainer() else { return nil }
            guard let v = try? JSONValue.parse(UnsafeBufferPointer(rebasing: b[start..<i]), rejectingDuplicateKeys: true) else { return nil }
            texts.append(contentsOf: v.jsonString.utf8)
            return v
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let v = scanNumber() else { return nil }
            texts.append(contentsOf: v.jsonString.utf8)
            return v
        default:
            return nil
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { return nil }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { return nil }
        texts.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<(i + n)]))
        i += n
        return value
    }

    /// A number as the parser reads it: an integer `Int64` holds, else a finite `Double`.
    private mutating func scanNumber() -> JSONValue? {
        let start = i
        var isInteger = true
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit() else { return nil }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit() { i += 1 } }
        if at(UInt8(ascii: ".")) {
            isInteger = false
            i += 1
            guard isDigit() else { return nil }
            while isDigit() { i += 1 }
        }
        if at(UInt8(ascii: "e")) || at(UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if at(UInt8(ascii: "+")) || at(UInt8(ascii: "-")) { i += 1 }
            guard isDigit() else { return nil }
            while isDigit() { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if isInteger, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else { return nil }
        return .double(d)
    }

    private struct ScannedString {
        var content: Range<Int>
        var hasEscape = false
        /// Only escapes `JSONValue.writeString` writes the same way: \" \\ \n \r \t.
        var printsAsWritten = true
    }

    /// A string from its opening quote: no raw control character, only the escapes JSON has.
    /// Surrogates in \u escapes are checked by `decode`, which such a string goes through.
    private mutating func scanString() -> ScannedString? {
        let start = i + 1
        var k = start
        var result = ScannedString(content: start..<start)
        guard let base = b.baseAddress else { return nil }
        while k < b.count {
            // The plain run up to the next quote, backslash or control character.
            let runEnd = JSONEscapes.plainRunEnd(base, from: k, end: b.count)
            if !sawNonASCII, !JSONEscapes.isASCII(base, from: k, end: runEnd) { sawNonASCII = true }
            k = runEnd
            guard k < b.count else { return nil }
            let c = b[k]
            if c == UInt8(ascii: "\"") {
                result.content = start..<k
                i = k + 1
                return result
            }
            if c < 0x20 { return nil }
            // A backslash: the run ends only at a quote, a backslash or a control character.
            guard k + 1 < b.count else { return nil }
            result.hasEscape = true
            switch b[k + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): k += 2
            case UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"): result.printsAsWritten = false; k += 2
            case UInt8(ascii: "u"): result.printsAsWritten = false; k += 2
            default: return nil
            }
        }
        return nil
    }

    /// The bytes a string's escapes stand for, as `JSONParser` decodes them; nil for a bad \u
    /// escape or surrogate.
    private func decode(_ range: Range<Int>) -> [UInt8]? {
        guard let base = b.baseAddress else { return range.isEmpty ? [] : nil }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var k = range.lowerBound
        while k < range.upperBound {
            let c = base[k]
            k += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let next = JSONEscapes.decode(base, at: k, end: range.upperBound, into: &out) else { return nil }
            k = next
        }
        return out
    }

    /// Moves past the object or array at `i` by its brackets (strings skipped), without checking
    /// what is inside: the parser does that.
    private mutating func skipContainer() -> Bool {
        var depth = 0
        while i < b.count {
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > Self.maxNesting { return false }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return true }
            case UInt8(ascii: "\""):
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            default:
                break
            }
        }
        return false
    }

    private func at(_ c: UInt8) -> Bool { i < b.count && b[i] == c }
    private func isDigit() -> Bool { i < b.count && b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9") }

    private mutating func skipWhitespace() {
        while i < b.count {
            let c = b[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
        }
    }
}
