import ChoreoHTTP

/// A stream that started (HTTP 200) and then went wrong. Carries what had arrived, so the
/// caller can keep the partial text (`partial.text`) or continue from it.
public struct StreamError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The connection ended before the provider's terminal event (`[DONE]`, `message_stop`, a
        /// final `finishReason`).
        case interrupted
        /// An event could not be decoded.
        case malformedEvent = "malformed"
        /// The provider sent an error inside the stream (OpenAI `{"error":…}`, Anthropic `event: error`).
        case providerError = "provider_error"
        /// The stream broke its framing or a size cap (an event over the provider's `maxEventBytes`).
        case protocolError = "protocol_error"
        /// The body was a web page, not an event stream (`NotAnEventStream`): no API at the URL.
        case notAnEventStream = "not_an_event_stream"
    }

    public let kind: Kind
    public let message: String
    /// The provider's error type for in-band errors (`overloaded_error`, `server_error`, …).
    public let providerErrorType: String?
    /// Everything received before the failure.
    public let partial: ChatCompletion
    /// The transport failure underneath, when there was one (a dropped connection, a stall).
    public let underlying: TransportError?

    public init(kind: Kind, message: String, providerErrorType: String? = nil, partial: ChatCompletion, underlying: TransportError? = nil) {
        self.kind = kind
        self.message = message
        self.providerErrorType = providerErrorType
        self.partial = partial
        self.underlying = underlying
    }

    /// The text received before the failure.
    public var partialText: String { partial.text }

    public var description: String {
        "stream \(kind.rawValue): \(message) (\(partialText.count) characters received)"
    }
}
