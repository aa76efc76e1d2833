import Foundation

/// HTTP header fields in the order received. Names compare case-insensitively.
///
/// Named `HeaderFields`, not `HTTPHeaders` or `HTTPFields`, so it stays unambiguous imported beside
/// NIOHTTP1 (`HTTPHeaders`) and swift-http-types (`HTTPFields`).
///
/// Stored as one byte block (each field as its name's length, the name, its value's length, the
/// value) rather than two `String`s a field: a process holding 10,000 streams holds 10,000
/// response heads, and a dozen rate-limit headers were a kilobyte each.
public struct HeaderFields: Sendable, Hashable, Sequence {
    private var block: [UInt8] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields { add(name: name, value: value) }
    }

    /// The fields, in order.
    public var fields: [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        forEachField { name, value in
            out.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            return true
        }
        return out
    }

    public var count: Int {
        var n = 0
        forEachField { _, _ in n += 1; return true }
        return n
    }

    public mutating func add(name: String, value: String) {
        var name = name, value = value
        name.withUTF8 { n in value.withUTF8 { v in add(name: UnsafeRawBufferPointer(n), value: UnsafeRawBufferPointer(v)) } }
    }

    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        Self.appendLength(name.count, to: &block)
        block.append(contentsOf: name)
        Self.appendLength(value.count, to: &block)
        block.append(contentsOf: value)
    }

    /// Drops the spare capacity of a finished header block (it grew by doubling).
    mutating func compact() {
        guard block.capacity > block.count else { return }
        block = block.withUnsafeBufferPointer { [UInt8]($0) }
    }

    /// The first value of `name`, compared case-insensitively (ASCII, as HTTP field names are;
    /// without allocating: rate-limit parsing looks up a dozen names on every response).
    public subscript(name: String) -> String? {
        var found: String?
        var wanted = name
        wanted.withUTF8 { w in
            forEachField { n, v in
                guard Self.equalIgnoringASCIICase(n, UnsafeRawBufferPointer(w)) else { return true }
                found = String(decoding: v, as: UTF8.self)
                return false
            }
        }
        return found
    }

    /// The provider's request id (`x-request-id`, Anthropic's `request-id`), for support tickets.
    public var requestID: String? { self["x-request-id"] ?? self["request-id"] }

    /// Calls `body` with each field's bytes until it returns false.
    private func forEachField(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) {
        block.withUnsafeBytes { b in
            var i = 0
            while i < b.count {
                let nameLength = Self.readLength(b, &i)
                let name = UnsafeRawBufferPointer(rebasing: b[i..<(i + nameLength)])
                i += nameLength
                let valueLength = Self.readLength(b, &i)
                let value = UnsafeRawBufferPointer(rebasing: b[i..<(i + valueLength)])
                i += valueLength
                if !body(name, value) { return }
            }
        }
    }

    private static func appendLength(_ n: Int, to block: inout [UInt8]) {
        // LEB128: one byte for anything under 128, as almost every name and value is.
        var n = n
        while n >= 0x80 {
            block.append(UInt8(n & 0x7F) | 0x80)
            n >>= 7
        }
        block.append(UInt8(n))
    }

    private static func readLength(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> Int {
        var n = 0, shift = 0
        while true {
            let byte = b[i]
            i += 1
            n |= Int(byte & 0x7F) << shift
            if byte < 0x80 { return n }
            shift += 7
        }
    }

    static func equalIgnoringASCIICase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for k in 0..<a.count where a[k] != b[k] {
            let x = a[k], y = b[k]
            let lx = x >= 0x41 && x <= 0x5A ? x | 0x20 : x
            let ly = y >= 0x41 && y <= 0x5A ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HeaderFields, b: HeaderFields) -> Bool { a.block == b.block }

    public func hash(into hasher: inout Hasher) { hasher.combine(block) }
}

/// One HTTP request for the transport.
public struct HTTPRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: HeaderFields
    public var body: [UInt8]
    /// Seconds to establish the connection (TCP + TLS).
    public var connectTimeout: Double
    /// Seconds without progress (a completed line or `CurlTransfer.progressBytes` bytes) after which
    /// the transfer ends with `TransportError.stalled`, once the first byte of the body came.
    public var stallTimeout: Double
    /// Seconds the first byte of the body may take after the request went out; past it the
    /// transfer ends with `TransportError.stalled`. A model that reasons before it writes sends
    /// nothing meanwhile (OpenAI's chat completions: over a minute at a high effort), and so does a
    /// server of one's own for the requests it queues past its slots. nil: ten stall timeouts.
    public var firstByteTimeout: Double?

    /// `firstByteTimeout`, or its default of ten stall timeouts (ten minutes at the default 60 s).
    var firstByteWait: Double { firstByteTimeout ?? stallTimeout * 10 }
    /// Seconds the whole exchange may take, from the transfer's start (connecting included) to
    /// the body's end, however steadily it makes progress; nil: no bound. Past it the transfer
    /// ends with `TransportError.timedOut`. Checked by the same sweep as the stall timeout.
    public var timeout: Double?
    /// A PEM file of certificate authorities to trust for an `https://` server, for a server whose
    /// certificate a private CA signed (curl's `CURLOPT_CAINFO`); nil: the system's. libcurl keeps
    /// its CA directory (Debian's `/etc/ssl/certs`) beside the file, so the public authorities
    /// stay trusted where it has one. Verification is never turned off. Check the file first with
    /// `CAFile.problem(at:)`: curl reports a bad one only when a transfer fails on it (`.tls`).
    public var caFile: String?
    /// A proxy for this request alone, instead of the environment's (`https_proxy`, …). `tunnel`
    /// makes curl CONNECT even for an `http://` URL, as it always does for `https://`: the proxy
    /// tests use it to put a real proxy's CONNECT in front of a plain-HTTP test server.
    package struct Proxy: Sendable {
        package var url: String
        package var tunnel: Bool
        package init(url: String, tunnel: Bool) {
            self.url = url
            self.tunnel = tunnel
        }
    }
    package var proxy: Proxy?

    public init(url: String, method: String = "POST", headers: HeaderFields = HeaderFields(), body: [UInt8] = [],
                connectTimeout: Double = 10, stallTimeout: Double = 60, firstByteTimeout: Double? = nil, timeout: Double? = nil,
                caFile: String? = nil) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.firstByteTimeout = firstByteTimeout
        self.timeout = timeout
        self.caFile = caFile
    }
}

extension HTTPRequest {
    /// `scheme://host:port` of a URL: safe to show (no path or query, where keys sometimes live).
    /// Read as bytes: Foundation's `range(of:)` cost every HTTPS request ~28,000 instructions.
    package static func origin(of url: String) -> String {
        let u = Array(url.utf8)
        var k = 0
        while k + 2 < u.count, !(u[k] == UInt8(ascii: ":") && u[k + 1] == UInt8(ascii: "/") && u[k + 2] == UInt8(ascii: "/")) { k += 1 }
        guard k + 2 < u.count else { return "" }
        let schemeEnd = k + 3
        var hostEnd = schemeEnd
        while hostEnd < u.count, u[hostEnd] != UInt8(ascii: "/"), u[hostEnd] != UInt8(ascii: "?"), u[hostEnd] != UInt8(ascii: "#") { hostEnd += 1 }
        var hostStart = schemeEnd
        for i in schemeEnd..<hostEnd where u[i] == UInt8(ascii: "@") { hostStart = i + 1 }  // drop userinfo
        return String(decoding: u[..<schemeEnd] + u[hostStart..<hostEnd], as: UTF8.self)
    }
}

/// The status line and headers of a response, delivered before any of its body.
public struct HTTPResponseHead: Sendable, Hashable {
    public var status: Int
    public var headers: HeaderFields
    /// `HTTP/1.1`, `HTTP/2`, …
    public var version: String
    /// When the head was complete (unix seconds), on the transfer's thread: a task that awaited
    /// the head reads it later, by as long as it waited to run (on a busy machine, after the
    /// first body bytes had been read).
    public var receivedAt: Double
}
