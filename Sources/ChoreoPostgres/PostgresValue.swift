/// A statement argument in PostgreSQL's text format (what `psql` prints and parses), or NULL.
/// The server infers each parameter's type from where it appears (cast with `$1::bigint[]` where
/// it cannot), and parses the text as that type.
///
/// Callers build argument lists from literals (`["pending", 3, nil]`) or from any
/// `PostgresEncodable` value with `.init(_:)`, as with ChoreoSQLite's `SQLValue`.
public struct PostgresValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral, ExpressibleByBooleanLiteral
{
    /// The text sent; nil is SQL NULL.
    public let text: String?

    public static let null = PostgresValue(text: nil)

    init(text: String?) { self.text = text }
    /// The value of any encodable Swift value (`nil` optionals become NULL).
    public init(_ value: some PostgresEncodable) { text = value.postgresText }

    public init(stringLiteral value: String) { text = value }
    public init(integerLiteral value: Int64) { text = String(value) }
    public init(floatLiteral value: Double) { text = value.postgresText }
    public init(nilLiteral: ()) { text = nil }
    public init(booleanLiteral value: Bool) { text = value.postgresText }
}

/// A Swift value that can be sent as a statement argument, in PostgreSQL's text format.
public protocol PostgresEncodable {
    /// The text format of the value; nil for NULL.
    var postgresText: String? { get }
}

extension PostgresValue: PostgresEncodable { public var postgresText: String? { text } }
extension String: PostgresEncodable { public var postgresText: String? { self } }
extension Substring: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Int: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Int32: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Int64: PostgresEncodable { public var postgresText: String? { String(self) } }
extension Double: PostgresEncodable {
    /// Swift's shortest round-trip spelling, which `float8` parses exactly; infinities and NaN in
    /// PostgreSQL's words.
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description
    }
}
/// `1` and `0`: what both a `boolean` and an `integer` parameter accept (SQLite-shaped columns
/// keep their flags as integers).
extension Bool: PostgresEncodable { public var postgresText: String? { self ? "1" : "0" } }
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}
/// An array literal (`{"a","b",NULL}`): bind it as `$1::text[]` or `$1::bigint[]`, and `UNNEST`
/// it to touch many rows in one statement.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresText: String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (i, element) in enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            guard let text = element.postgresText else { out += "NULL".utf8; continue }
            // Every element quoted, with `"` and `\` escaped: the one spelling that is right for
            // any text (an unquoted element would be trimmed, and `NULL` read as NULL). On the
            // UTF-8 bytes (both are ASCII, never inside a multi-byte sequence), copied whole when
            // there is nothing to escape: a partial flush encodes every stream's text each time.
            let utf8 = text.utf8
            out.append(quote)
            if utf8.contains(where: { $0 == quote || $0 == backslash }) {
                for byte in utf8 {
                    if byte == quote || byte == backslash { out.append(backslash) }
                    out.append(byte)
                }
            } else {
                out.append(contentsOf: utf8)
            }
            out.append(quote)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
