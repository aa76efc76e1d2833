import Foundation

/// A JSON value. Job bodies, pass-through request fields and provider-specific payloads are
/// carried as `JSONValue` so that nothing a user put in a request is lost on the way to the wire.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value for `key` when this is an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    /// An integer, also from a JSON number written with a fraction of zero (`5.0`).
    public var intValue: Int? {
        switch self {
        case .int(let i): return Int(i)
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    /// The JSON type name, for error messages ("expected string, found array").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// Parses JSON text. Throws `JSONParseError` with the byte offset on invalid input, and, with
    /// `rejectingDuplicateKeys`, on a key repeated in one object (else the last copy wins).
    public static func parse(_ bytes: some Collection<UInt8>, rejectingDuplicateKeys: Bool = false) throws -> JSONValue {
        var parser = JSONParser(Array(bytes), rejectDuplicateKeys: rejectingDuplicateKeys)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact JSON text. Object keys are sorted so the output is stable (hashes, tests, diffs).
    /// Written as UTF-8 bytes and made a `String` once: appending each piece to a `String` cost
    /// ~60 instructions a byte of a job's stored response (4.5% of a firehose run).
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    /// `jsonString`'s UTF-8 bytes.
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    /// Appends the compact JSON text to `out` (see `jsonString`).
    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 {
                out.append(contentsOf: String(Int64(d)).utf8)
            } else if d.isFinite {
                out.append(contentsOf: "\(d)".utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            // Keys sorted, so the same value always gives the same text.
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in o.sorted(by: { $0.key < $1.key }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `s` as a JSON string literal.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        scanEscapes(s, run: { _, range in out += Self.slice(s, range.lowerBound, range.upperBound) },
                    escape: { Self.escape($0) { out.unicodeScalars.append(Unicode.Scalar($0)) } })
        out += "\""
    }

    /// Appends `s` as a JSON string literal, in UTF-8.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        scanEscapes(s, run: { bytes, range in out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[range])) },
                    escape: { Self.escape($0) { out.append($0) } })
        out.append(UInt8(ascii: "\""))
    }

    /// Walks `s`'s UTF-8 bytes in place: `run` gets each stretch that needs no escape (whole, as
    /// a range of the bytes), `escape` each byte that does, in order. Walking the UTF-8 view
    /// index by index cost ~40 instructions a byte (6% of a firehose run went to the responses'
    /// text); the runs are found eight bytes at a time (`JSONEscapes.plainRunEnd`). An escaped
    /// byte is ASCII, so every run's ends are character boundaries.
    @inline(__always)
    private static func scanEscapes(_ s: String, run: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Void, escape: (UInt8) -> Void) {
        var text = s
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var i = 0
            while i < bytes.count {
                let end = JSONEscapes.plainRunEnd(base, from: i, end: bytes.count)
                if end > i { run(bytes, i..<end) }
                guard end < bytes.count else { return }
                escape(bytes[end])
                i = end + 1
            }
        }
    }

    /// The JSON escape of a byte that needs one (a quote, a backslash, a control character), each
    /// of its ASCII bytes handed to `emit`: both writers append them as they come, with no
    /// `String` made for the escape (~100 instructions each, and a model's text has a quote or a
    /// line break every few dozen bytes).
    @inline(__always)
    private static func escape(_ b: UInt8, _ emit: (UInt8) -> Void) {
        emit(UInt8(ascii: "\\"))
        switch b {
        case 0x22, 0x5C: emit(b)
        case 0x0A: emit(UInt8(ascii: "n"))
        case 0x0D: emit(UInt8(ascii: "r"))
        case 0x09: emit(UInt8(ascii: "t"))
        default:
            // `\u00XX`: a control character (below 0x20).
            let hex: StaticString = "0123456789abcdef"
            emit(UInt8(ascii: "u"))
            emit(UInt8(ascii: "0"))
            emit(UInt8(ascii: "0"))
            emit(hex.utf8Start[Int(b >> 4)])
            emit(hex.utf8Start[Int(b & 0xF)])
        }
    }

    /// The bytes `from..<to` of `s`, both on character boundaries.
    private static func slice(_ s: String, _ from: Int, _ to: Int) -> Substring {
        let utf8 = s.utf8
        return s[utf8.index(utf8.startIndex, offsetBy: from)..<utf8.index(utf8.startIndex, offsetBy: to)]
    }

    /// A JSON string literal for `s`.
    public static func quoted(_ s: String) -> String {
        var out = ""
        writeString(s, to: &out)
        return out
    }
}
