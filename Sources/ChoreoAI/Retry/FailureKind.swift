/// Why an attempt failed, as a short stable name: stored in the database (`jobs.error_kind`,
/// `attempts.error_kind`), shown by `status`, filtered on by `choreo resume`. Every kind Choreo
/// gives is a constant here, with what it means; a name from elsewhere (a database written by
/// another version, a user's `choreo sql`) is kept as it is, so the set stays open, as HTTP
/// status codes are (NIO's `HTTPResponseStatus` is the model).
public struct FailureKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    // MARK: The provider answered with an HTTP error (wire-formats.md §4.1)

    /// 400, 413, 422: the request is wrong; sending it again gives the same answer.
    public static let badRequest: FailureKind = "bad_request"
    /// 401: the key is wrong or missing; stops the provider for the run.
    public static let auth: FailureKind = "auth"
    /// 403: the key may not use this model or endpoint; stops the provider.
    public static let permission: FailureKind = "permission"
    /// 404: no such model or endpoint.
    public static let notFound: FailureKind = "not_found"
    /// 408: the server timed the request out; retried.
    public static let timeout: FailureKind = "timeout"
    /// 409: retried.
    public static let conflict: FailureKind = "conflict"
    /// 429 (not a quota): retried after the server's wait.
    public static let rateLimited: FailureKind = "rate_limited"
    /// The account's quota or credit is exhausted; stops the provider.
    public static let quota: FailureKind = "quota"
    /// 503, 529 and Anthropic's `overloaded_error`: retried.
    public static let overloaded: FailureKind = "overloaded"
    /// Other 5xx: retried.
    public static let serverError: FailureKind = "server_error"
    /// Another status (`http_418`): not retried.
    public static func http(_ status: Int) -> FailureKind { FailureKind("http_\(status)") }

    // MARK: The connection or the stream failed

    /// No connection (refused, DNS, connect timeout).
    public static let connect: FailureKind = "connect"
    /// The TLS handshake failed.
    public static let tls: FailureKind = "tls"
    /// The connection broke before the response began.
    public static let connectionLost: FailureKind = "connection_lost"
    /// The stream broke off after it began: its text is kept and continued.
    public static let interrupted: FailureKind = "interrupted"
    /// No progress for the stall timeout.
    public static let stalled: FailureKind = "stalled"
    /// The attempt outlasted its own bound (`timeout` of the job, the run or the provider). Not
    /// `timeout`, which is an HTTP 408.
    public static let attemptTimeout: FailureKind = "attempt_timeout"
    /// A garbled reply (bad status line, HTTP/0.9, a size cap passed).
    public static let protocolError: FailureKind = "protocol_error"
    /// An event the wire format cannot read.
    public static let malformed: FailureKind = "malformed"
    /// An error event inside the stream.
    public static let providerError: FailureKind = "provider_error"
    /// Another transport failure.
    public static let transport: FailureKind = "transport"
    /// The attempt was cancelled (its run stopping, its batch cancelled).
    public static let cancelled: FailureKind = "cancelled"

    // MARK: Choreo refused before sending

    /// The model refused to continue kept text as a prefill: the job starts over (a `restart`
    /// attempt that does not count).
    public static let prefillRefused: FailureKind = "prefill_refused"
    /// No configured provider serves the model.
    public static let noProvider: FailureKind = "no_provider"
    /// A run under a budget cannot price the model.
    public static let noPrice: FailureKind = "no_price"
    /// Anything else.
    public static let other: FailureKind = "other"
    /// Not sent: the job's provider is stopped for the run (a bad key, an exhausted quota, a key
    /// not set), and no request of it goes out again in that run. The job that got the provider's
    /// answer fails with that answer's kind (`auth`, `quota`); these jobs were never tried, so
    /// `choreo resume` requeues them without `--all` (`resumable`).
    public static let providerStopped: FailureKind = "provider_stopped"

    // MARK: The runner lost the job

    /// The runner holding the attempt died (killed, crashed); its lease expired and another took the job.
    public static let runnerLost: FailureKind = "runner_lost"
    /// This runner's lease expired before it wrote the result; another runner's result stands.
    public static let leaseLost: FailureKind = "lease_lost"

    /// Every kind `RequestFailure.classify` marks retryable: what `choreo resume` requeues by
    /// default. A test checks the two agree.
    public static let retryable: [FailureKind] = [
        .rateLimited, .serverError, .overloaded, .timeout, .conflict, .stalled, .attemptTimeout, .interrupted, .connect, .tls,
        .connectionLost, .transport, .malformed, .protocolError, .providerError, .cancelled,
    ]

    /// What `choreo resume` requeues without `--all`: the retryable kinds, the attempts of a
    /// runner that died (`runner_lost`, set by claims) and the jobs never sent because their
    /// provider was stopped (`provider_stopped`).
    public static let resumable: [FailureKind] = retryable + [.runnerLost, .providerStopped]
}
