import Foundation

/// A JSON value as the mock reads and writes it.
///
/// Deliberately not ChoreoAI's `JSONValue`: requests are read by Foundation's `JSONSerialization`
/// and replies are written by the small writer below, so a bug in the client's parser or encoder
/// cannot pass every test by being the mock's bug too (which is why the mock depends on NIO only).
/// Objects are written with their keys sorted, so a reply's bytes are stable.
enum MockJSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([MockJSON])
    case object([String: MockJSON])

    /// The member `key` of an object; nil for a missing key or a value that is not an object.
    subscript(key: String) -> MockJSON? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    var stringValue: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    var boolValue: Bool? {
        guard case .bool(let b) = self else { return nil }
        return b
    }

    var arrayValue: [MockJSON]? {
        guard case .array(let items) = self else { return nil }
        return items
    }

    var objectValue: [String: MockJSON]? {
        guard case .object(let members) = self else { return nil }
        return members
    }

    /// A whole number, also when written with a zero fraction (`5.0`), as the APIs accept it.
    var intValue: Int? {
        switch self {
        case .int(let n): return n
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        default: return nil
        }
    }
}

extension MockJSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    init(nilLiteral: ()) { self = .null }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(stringLiteral value: String) { self = .string(value) }
    init(arrayLiteral items: MockJSON...) { self = .array(items) }
    init(dictionaryLiteral members: (String, MockJSON)...) { self = .object(Dictionary(members) { _, last in last }) }
}

// MARK: reading

extension MockJSON {
    /// Parses JSON text with Foundation; nil when it is not JSON.
    init?(parsing bytes: some Sequence<UInt8>) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) else { return nil }
        self.init(foundation: object)
    }

    /// Converts `JSONSerialization`'s output. Its numbers are all `NSNumber`: a boolean reports
    /// the Objective-C type `c`, a number with a fraction or exponent `d`, an integer the others.
    private init(foundation value: Any) {
        switch value {
        case let s as String:
            self = .string(s)
        case let n as NSNumber:
            switch UInt8(bitPattern: n.objCType.pointee) {
            case UInt8(ascii: "c"), UInt8(ascii: "B"): self = .bool(n.boolValue)
            case UInt8(ascii: "d"), UInt8(ascii: "f"): self = .double(n.doubleValue)
            case UInt8(ascii: "Q") where n.uint64Value > UInt64(Int.max): self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        case let items as [Any]:
            self = .array(items.map(MockJSON.init(foundation:)))
        case let members as [String: Any]:
            self = .object(members.mapValues(MockJSON.init(foundation:)))
        default:
            self = .null
        }
    }
}

// MARK: writing

extension MockJSON {
    /// Compact JSON text, object keys sorted.
    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    var bytes: [UInt8] { Array(text.utf8) }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let n): out += String(n)
        case .double(let d): out += Self.number(d)
        case .string(let s): out += Self.quoted(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += Self.quoted(key)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// A whole double as an integer (`5`, not `5.0`); JSON has no infinity or NaN, so those are null.
    private static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }

    /// `s` as a JSON string literal. Most texts need no escape and are wrapped as they are; the
    /// others are rebuilt byte by byte (every escaped byte is ASCII, so UTF-8 sequences pass whole).
    static func quoted(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            return "\"" + s + "\""
        }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(s.utf8.count + 8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), b]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: out += Array("\\u00".utf8) + [hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
