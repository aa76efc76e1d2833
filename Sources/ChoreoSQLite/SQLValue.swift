/// A value SQLite stores or returns: one of its five storage classes.
///
/// Callers build argument lists from literals (`["pending", 3, nil]`) or from any
/// `SQLConvertible` value with `.init(_:)`: `[.init(batchID), .init(now), .init(optionalStatus)]`.
public enum SQLValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// The SQL value of any convertible Swift value (`nil` optionals become `.null`).
    public init(_ value: some SQLConvertible) { self = value.sqlValue }

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(nilLiteral: ()) { self = .null }

    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// A Swift value that can be bound as a statement argument.
public protocol SQLConvertible {
    var sqlValue: SQLValue { get }
}

extension SQLValue: SQLConvertible { public var sqlValue: SQLValue { self } }
extension Int: SQLConvertible { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int32: SQLConvertible { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLConvertible { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLConvertible { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLConvertible { public var sqlValue: SQLValue { .text(self) } }
extension Substring: SQLConvertible { public var sqlValue: SQLValue { .text(String(self)) } }
/// Booleans are stored as 0 / 1, SQLite's convention.
extension Bool: SQLConvertible { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Array: SQLConvertible where Element == UInt8 { public var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLConvertible where Wrapped: SQLConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}
