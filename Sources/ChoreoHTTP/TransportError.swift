/// A failure below HTTP: the connection could not be made, broke, or went silent.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Name resolution or TCP connect failed, or the connect timeout passed.
        case connect
        /// TLS handshake or certificate verification failed.
        case tls
        /// No byte arrived for the stall timeout.
        case stalled
        /// The request's total `timeout` passed (connecting and the whole body), progress or not.
        case timedOut
        /// The connection closed or reset while the response was in progress.
        case connectionLost
        /// The URL or an option was refused.
        case invalidRequest
        /// The reply broke HTTP or a size cap: a garbled status line, an HTTP/0.9 reply, a header
        /// block over `CurlTransfer.maxHeaderBytes`, an event over the provider's `maxEventBytes`.
        case protocolError
        /// Anything else libcurl reported.
        case other
    }

    public let kind: Kind
    /// libcurl's `CURLcode`, 0 when the error did not come from libcurl.
    public let curlCode: Int
    public let message: String
    /// Scheme, host and port only (never a path or query that could carry a key).
    public let origin: String

    public init(kind: Kind, curlCode: Int = 0, message: String, origin: String = "") {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
        self.origin = origin
    }

    public var description: String {
        let where_ = origin.isEmpty ? "" : " (\(origin))"
        switch kind {
        case .stalled: return "stream stalled\(where_): \(message)"
        case .timedOut: return "timed out\(where_): \(message)"
        case .connect: return "could not connect\(where_): \(message) [curl \(curlCode)]"
        default: return "transport error\(where_): \(message) [curl \(curlCode)]"
        }
    }
}

extension Double {
    /// Seconds for a message: "2", "0.25" (at most two decimals). Any value, even one no `Int`
    /// holds ("1e+308", "inf"): messages format what servers send.
    /// (`package`: ChoreoAI's error messages format seconds the same way.)
    package var formatted2: String {
        guard isFinite, abs(self) < 1e15 else { return "\(self)" }
        return self == rounded() ? String(Int(self)) : "\((self * 100).rounded() / 100)"
    }
}
