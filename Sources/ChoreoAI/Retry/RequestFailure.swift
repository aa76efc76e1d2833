import ChoreoHTTP

/// What went wrong with one attempt, in the terms a retry decision needs. (`RequestFailure`, not
/// `Failure`: that is also the error type parameter of every async sequence and `Result`.)
public struct RequestFailure: Sendable, Hashable, CustomStringConvertible {
    /// A short stable name stored in the database and shown in `status` (`rate_limited`, `stalled`, …).
    public var kind: FailureKind
    public var retryable: Bool
    /// Retrying any job of this provider is pointless (quota exhausted, bad key): stop them all.
    public var stopsProvider: Bool
    /// With `stopsProvider`: the stop is only the model the request named's (a quota per model,
    /// a model the key may not use); the provider's other models still answer.
    public var modelOnly = false
    /// The server asked for this delay (seconds).
    public var retryAfter: Double?
    public var httpStatus: Int?
    public var message: String
    /// Set when the failure says the provider cannot be reached, not that the request was wrong:
    /// a short reason (`connection refused`, `empty reply`, `HTTP 503`). One such failure is an
    /// ordinary retry; a run of them with no answer in between is a provider outage (the batch
    /// runner pauses the provider and probes it, see RELIABILITY.md).
    public var unreachable: String?

    public init(kind: FailureKind, retryable: Bool, stopsProvider: Bool, retryAfter: Double? = nil, httpStatus: Int? = nil, message: String,
                unreachable: String? = nil) {
        self.kind = kind
        self.retryable = retryable
        self.stopsProvider = stopsProvider
        self.retryAfter = retryAfter
        self.httpStatus = httpStatus
        self.message = message
        self.unreachable = unreachable
    }

    public var description: String { "\(kind): \(message)" }

    /// Classifies any error from the transport, the API or a stream (wire-formats.md §4.1, §6.3).
    public static func classify(_ error: any Error) -> RequestFailure {
        switch error {
        case let e as APIError:
            return classify(e)
        case let e as StreamError:
            if let t = e.underlying { return classify(t, partial: true) }
            switch e.kind {
            case .interrupted: return RequestFailure(kind: .interrupted, retryable: true, stopsProvider: false, message: e.message)
            case .protocolError: return RequestFailure(kind: .protocolError, retryable: true, stopsProvider: false, message: e.message)
            // Every request to that URL gets the same page: as a 404 with no API behind it.
            case .notAnEventStream:
                return RequestFailure(kind: .protocolError, retryable: false, stopsProvider: true, message: "\(e.message) \(APIError.noAPIHere)")
            case .malformedEvent: return RequestFailure(kind: .malformed, retryable: true, stopsProvider: false, message: e.message)
            case .providerError:
                let overloaded = e.providerErrorType == "overloaded_error"
                return RequestFailure(kind: overloaded ? .overloaded : .providerError, retryable: true, stopsProvider: false, message: e.message)
            }
        case let e as TransportError:
            return classify(e, partial: false)
        case is CancellationError:
            return RequestFailure(kind: .cancelled, retryable: true, stopsProvider: false, message: "cancelled")
        case let e as WireError:
            if case .invalidRequest = e { return RequestFailure(kind: .badRequest, retryable: false, stopsProvider: false, message: e.description) }
            return RequestFailure(kind: .malformed, retryable: true, stopsProvider: false, message: e.description)
        default:
            return RequestFailure(kind: .other, retryable: false, stopsProvider: false, message: "\(error)")
        }
    }

    static func classify(_ e: TransportError, partial: Bool) -> RequestFailure {
        let kind: FailureKind
        switch e.kind {
        case .stalled: kind = .stalled
        // Not `timeout`, which is an HTTP 408: the request's own bound passed (`Provider.timeout`).
        case .timedOut: kind = .attemptTimeout
        case .connect: kind = .connect
        case .tls: kind = .tls
        case .connectionLost: kind = partial ? .interrupted : .connectionLost
        // Our request was refused before it left (a malformed URL): this job's fault, not the
        // provider's answer, so it stops nothing. Only an auth or quota reply stops a provider.
        case .invalidRequest: return RequestFailure(kind: .badRequest, retryable: false, stopsProvider: false, message: e.description)
        // A garbled reply (HTTP/0.9, a bad status line, a size cap passed) is this attempt's.
        case .protocolError: kind = .protocolError
        case .other: kind = .transport
        }
        return RequestFailure(kind: kind, retryable: true, stopsProvider: false, message: e.description,
                       unreachable: unreachableReason(e, partial: partial))
    }

    /// The outage reason of a server whose certificate this machine does not trust (curl 60: a
    /// private CA, a self-signed server, a proxy that inspects TLS). Waiting does not fix it; a
    /// CA file does (`--cacert`, `ca_file`).
    public static let untrustedCertificate = "certificate not trusted"
    /// The outage reason of a host name that does not resolve (curl 6).
    public static let dnsLookupFailed = "DNS lookup failed"
    /// The outage reason of requests that got no progress for the stall timeout.
    public static let stalled = "stalled"
    /// Why a provider that answered nothing but 429s for the outage limit was given up.
    public static let rateLimitedReason = "HTTP 429 rate limit"

    /// Why `e` says the provider is unreachable, or nil when it does not: every stream breaking off
    /// midway is not an outage sign (the provider answered), a connection lost before any byte is.
    static func unreachableReason(_ e: TransportError, partial: Bool) -> String? {
        switch e.kind {
        case .connect:
            switch e.curlCode {
            case 5: return "proxy not found"
            case 6: return dnsLookupFailed
            case 28: return "connect timed out"
            default: return e.message.lowercased().contains("refused") ? "connection refused" : "could not connect"
            }
        case .tls: return e.curlCode == 60 ? untrustedCertificate : "TLS handshake failed"
        case .stalled: return stalled
        case .connectionLost where !partial:
            return e.curlCode == 52 ? "empty reply" : "connection reset"
        // A bound the user chose, not a sign of an outage: a stream that outlasts it (or a model
        // slow to begin) would otherwise pause its whole provider. Silence is the stall timeout's.
        case .timedOut: return nil
        case .connectionLost, .invalidRequest, .protocolError, .other: return nil
        }
    }

    static func classify(_ e: APIError) -> RequestFailure {
        var f = RequestFailure(kind: .http(e.status), retryable: false, stopsProvider: false, retryAfter: e.retryAfter,
                        httpStatus: e.status, message: e.description)
        if e.isQuotaExhausted {
            f.kind = .quota
            f.stopsProvider = true
            f.modelOnly = e.isDailyQuotaPerModel
            return f
        }
        switch e.status {
        case 400, 413, 422: f.kind = .badRequest
        case 401: f.kind = .auth; f.stopsProvider = true
        case 403:
            f.kind = .permission
            f.stopsProvider = true
            // OpenAI's `Project … does not have access to model o3`: that model only.
            f.modelOnly = e.code == "model_not_found"
        case 404:
            f.kind = .notFound
            f.stopsProvider = e.meansNoAPIHere
        case 408: f.kind = .timeout; f.retryable = true
        case 409: f.kind = .conflict; f.retryable = true
        // A request larger than the account's whole per-minute limit: no wait lets it through.
        case 429 where e.isRequestTooLarge: f.kind = .badRequest; f.retryAfter = nil
        case 429: f.kind = .rateLimited; f.retryable = true
        case 529: f.kind = .overloaded; f.retryable = true
        case 503: f.kind = .overloaded; f.retryable = true
        case 500...599: f.kind = .serverError; f.retryable = true
        default: break
        }
        // A gateway with nothing behind it, or a provider shedding all load.
        if [502, 503, 504, 529].contains(e.status) { f.unreachable = "HTTP \(e.status)" }
        return f
    }
}
