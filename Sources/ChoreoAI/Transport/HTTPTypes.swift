/// HTTP header fields in the order received. Names compare case-insensitively.
public struct HTTPHeaders: Sendable, Hashable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(String, String)] = []) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    public mutating func add(name: String, value: String) { fields.append((name, value)) }

    /// The first value of `name`, compared case-insensitively (ASCII, as HTTP field names are;
    /// without allocating: rate-limit parsing looks up a dozen names on every response).
    public subscript(name: String) -> String? {
        fields.first { Self.equalIgnoringASCIICase($0.name, name) }?.value
    }

    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            let lx = x >= 0x41 && x <= 0x5A ? x | 0x20 : x
            let ly = y >= 0x41 && y <= 0x5A ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for f in fields { hasher.combine(f.name); hasher.combine(f.value) }
    }
}

/// One HTTP request for the transport.
public struct HTTPRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Seconds to establish the connection (TCP + TLS).
    public var connectTimeout: Double
    /// Seconds without a received byte after which the transfer ends with `TransportError.stalled`.
    public var stallTimeout: Double

    public init(url: String, method: String = "POST", headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
                connectTimeout: Double = 10, stallTimeout: Double = 60) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
    }
}

/// The status line and headers of a response, delivered before any of its body.
public struct HTTPResponseHead: Sendable, Hashable {
    public var status: Int
    public var headers: HTTPHeaders
    /// `HTTP/1.1`, `HTTP/2`, …
    public var version: String
}
