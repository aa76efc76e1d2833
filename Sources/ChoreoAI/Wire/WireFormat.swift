import ChoreoHTTP
import Foundation

/// How one provider's API is spoken: request encoding from an OpenAI-shaped chat body, stream
/// decoding into `ChatCompletionChunk`s, error bodies, and continuation by prefill.
public protocol WireFormat: Sendable {
    /// Builds the HTTP request for `body` (an OpenAI chat completions body).
    func makeRequest(_ body: JSONValue, provider: Provider, stream: Bool) throws -> HTTPRequest
    /// A fresh decoder for one response stream.
    func makeDecoder() -> any ChunkDecoder
    /// Decodes a non-streaming response body.
    func decodeCompletion(_ body: [UInt8]) throws -> ChatCompletion
    /// Decodes an error response into the provider's type, code and message.
    func decodeError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError
    /// The body that asks the model to continue `partial` (a trailing assistant prefill), or nil
    /// when this provider cannot. `sentPrefill` is the text actually sent (Anthropic rejects
    /// trailing whitespace, so it may be shorter than `partial`).
    func continuation(of body: JSONValue, partial: String) -> (body: JSONValue, sentPrefill: String)?
}

/// Turns a provider's server-sent events into chunks, one response at a time.
public protocol ChunkDecoder: Sendable {
    /// Decodes one event, calling `emit` for each chunk it yields (zero or more). Throws
    /// `WireError` for an undecodable event or an error the provider sent inside the stream.
    mutating func decode(_ event: SSEEvent, emit: (ChatCompletionChunk) -> Void) throws
    /// `decode` of an event the parser lends (`SSEParser.feed(_:onEventView:)`): its bytes live
    /// only for the call. A decoder that reads most events from their bytes implements it, and
    /// the stream then copies no event; the default copies it.
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void) throws
    /// `decode(view:emit:)` with each chunk added to `acc` (push mode: nobody sees the chunks).
    /// A decoder that can add its common event's text without making a chunk or a `String` of
    /// it implements it; the default adds each chunk.
    mutating func decode(view: SSEEventView, into acc: inout ChunkAccumulator) throws
    /// Whether the provider's terminal event has arrived.
    var isComplete: Bool { get }
}

extension ChunkDecoder {
    public mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void) throws {
        try decode(view.event, emit: emit)
    }

    public mutating func decode(view: SSEEventView, into acc: inout ChunkAccumulator) throws {
        try decode(view: view) { acc.add($0) }
    }
}

/// A decoder whose common event is text for a chunk it keeps (Anthropic's text delta, Gemini's
/// text event): both ways of decoding follow from handing over that chunk and the text's bytes.
/// In push mode the bytes go into the accumulator as they are: neither a `String` nor a chunk is
/// made for the event.
protocol KeptChunkTextDecoder: ChunkDecoder {
    /// Decodes one event: the common text event as the kept chunk (to be handed on as it is, or
    /// given the text) and the text's UTF-8 bytes, lent for the call, to `text`; anything else
    /// as chunks to `emit`.
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void,
                         text: (inout ChatCompletionChunk, UnsafeBufferPointer<UInt8>) -> Void) throws
}

extension KeptChunkTextDecoder {
    mutating func decode(view: SSEEventView, emit: (ChatCompletionChunk) -> Void) throws {
        try decode(view: view, emit: emit) { chunk, text in
            chunk.choices[0].delta.content = String(decoding: text, as: UTF8.self)
            emit(chunk)
        }
    }

    mutating func decode(view: SSEEventView, into acc: inout ChunkAccumulator) throws {
        try decode(view: view, emit: { acc.add($0) }) { chunk, text in acc.add(chunk, firstContent: text) }
    }
}

/// What a decoder reports about a bad event.
public enum WireError: Error, Sendable, CustomStringConvertible {
    case malformed(String)
    case providerError(type: String?, message: String)
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .malformed(let m): return "malformed event: \(m)"
        case .providerError(let t, let m): return "provider error\(t.map { " \($0)" } ?? ""): \(m)"
        case .invalidRequest(let m): return "invalid request: \(m)"
        }
    }
}

extension WireError {
    /// An error object a provider sent with a 200 (a body or a stream event) as a provider error:
    /// its type is the first of `typeKeys` that is a string member, its message `message` or `fallback`.
    static func provider(_ error: JSONValue?, typeKeys: [String] = ["type"], fallback: String) -> WireError {
        .providerError(type: typeKeys.lazy.compactMap { error?[$0]?.stringValue }.first,
                       message: error?["message"]?.stringValue ?? fallback)
    }

    /// The in-band error in `json`, or nil when it carries none: a non-null `"error"` member
    /// (`{"error":{type,message,…}}`) and, when `flat`, vLLM's `{"object":"error",type,message}`.
    static func inBand(_ json: JSONValue, typeKeys: [String] = ["type"], fallback: String, flat: Bool = false) -> WireError? {
        if let err = json["error"], !err.isNull { return provider(err, typeKeys: typeKeys, fallback: fallback) }
        if flat, json["object"]?.stringValue == "error" { return provider(json, fallback: fallback) }
        return nil
    }
}

extension WireFormat {
    /// Common JSON headers plus the provider's extra headers.
    func baseHeaders(_ provider: Provider, stream: Bool) -> HeaderFields {
        var h = HeaderFields([("content-type", "application/json"), ("accept", stream ? "text/event-stream" : "application/json"),
                             ("user-agent", "choreo/0.1")])
        for f in provider.extraHeaders { h.add(name: f.name, value: f.value) }
        return h
    }

    /// `text` as one URL path segment: every byte but RFC 3986's unreserved characters
    /// (`A–Z a–z 0–9 - . _ ~`) percent-encoded, so user data (a model name) can never add a
    /// segment, a query or a fragment to a request's URL. `.` and `..` are encoded too, so the
    /// segment is never a dot-segment that a URL parser would resolve.
    static func pathSegment(_ text: String) -> String {
        if text == "." || text == ".." { return text == "." ? "%2E" : "%2E%2E" }
        // A model name is nearly always unreserved already: returned as it is (encoding it
        // scalar by scalar cost ~8,000 instructions a Gemini request).
        if text.utf8.allSatisfy(isUnreserved) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if isUnreserved(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }

    /// RFC 3986's unreserved characters: `A–Z a–z 0–9 - . _ ~`.
    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Parses an error body in any of the shapes providers use: OpenAI `{"error":{message,type,code}}`,
    /// vLLM `{"object":"error",...}`, Anthropic `{"type":"error","error":{type,message}}`, Gemini
    /// `{"error":{code,message,status,details}}`.
    func genericError(status: Int, headers: HeaderFields, body: [UInt8], provider: Provider) -> APIError {
        let json = try? JSONValue.parse(body)
        let err = json?["error"]
        var type = err?["type"]?.stringValue ?? err?["status"]?.stringValue ?? json?["type"]?.stringValue
        if json?["object"]?.stringValue == "error" { type = json?["type"]?.stringValue }
        var code = err?["code"]?.stringValue ?? err?["details"]?["error_code"]?.stringValue
        if code == nil, let c = err?["code"]?.intValue, c != status { code = String(c) }
        var message = err?["message"]?.stringValue ?? json?["message"]?.stringValue
        if message == nil {
            let text = String(decoding: body.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            message = text.isEmpty ? "no error body" : text
        }
        var retryAfter = RetryHints.retryAfter(headers)
        if retryAfter == nil, let details = err?["details"]?.arrayValue {
            for d in details {
                if let delay = d["retryDelay"]?.stringValue, let s = RetryHints.serverWait(RetryHints.duration(delay)) { retryAfter = s }
            }
        }
        if retryAfter == nil, status == 429 {
            // No retry-after: wait for the budget that ran out to be restored (x-ratelimit-reset-*).
            let limits = RateLimitInfo(headers: headers)
            let exhausted = [(limits.remainingRequests, limits.resetRequests), (limits.remainingTokens, limits.resetTokens)]
                .compactMap { remaining, reset in remaining == 0 ? reset : nil }
            retryAfter = exhausted.max()
        }
        let requestID = headers.requestID ?? json?["request_id"]?.stringValue
        return APIError(status: status, type: type.map { Self.redacting(provider.apiKey, in: $0) },
                        code: code.map { Self.redacting(provider.apiKey, in: $0) }, message: Self.redacting(provider.apiKey, in: message!),
                        retryAfter: retryAfter, requestID: requestID, provider: provider.name,
                        body: Self.errorObject(json).flatMap { Self.redacting(provider.apiKey, in: $0) })
    }

    /// The provider's error object, unchanged, as `{"error": {…}}`: OpenAI's, Anthropic's and
    /// Gemini's `error` member, or a vLLM-style top-level `{"object":"error", …}` without `object`.
    static func errorObject(_ json: JSONValue?) -> JSONValue? {
        if let err = json?["error"], err.objectValue != nil { return ["error": err] }
        if json?["object"]?.stringValue == "error", var o = json?.objectValue {
            o["object"] = nil
            return ["error": .object(o)]
        }
        return nil
    }

    /// `value` with the key redacted from every string in it.
    static func redacting(_ key: String?, in value: JSONValue) -> JSONValue? {
        guard let key, !key.isEmpty else { return value }
        let text = value.jsonString
        let redacted = redacting(key, in: text)
        return redacted == text ? value : try? JSONValue.parse(Array(redacted.utf8))
    }

    /// `text` with the key redacted (`Redaction`): an error body that echoes the key back (some
    /// gateways do) must not carry it into the database or the logs.
    static func redacting(_ key: String?, in text: String) -> String { Redaction.redacting(key, in: text) }
}
