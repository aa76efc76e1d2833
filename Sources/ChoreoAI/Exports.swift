// The transport types that ChoreoAI's own API shows, so `import ChoreoAI` is enough to catch a
// `TransportError`, pass `Provider.extraHeaders`, check a `Provider.caFile` or read
// `ChatCompletionStream.head`. Only these:
// sending raw requests (`CurlTransport`, `HTTPRequest`, `HTTPBody`) is ChoreoHTTP's own API and
// takes `import ChoreoHTTP`. Scoped re-exports as Hummingbird's `Exports.swift` does.
@_exported import struct ChoreoHTTP.TransportError
@_exported import struct ChoreoHTTP.HeaderFields
@_exported import struct ChoreoHTTP.HTTPResponseHead
@_exported import enum ChoreoHTTP.CAFile
