internal import CCurl

// Every libcurl return code goes through `check`, as every syscall in NIO goes through
// `syscall(where:)` (Sources/NIOPosix/System.swift): one place turns a code into an error that
// names the call, so no code is dropped on the floor and no call site invents its own message.
// Where a failure is tolerable (an option an older libcurl lacks) the call site discards the
// thrown error with `try?` and says why.

/// Throws unless `code` is `CURLE_OK`: an `.invalidRequest` error (curl refused an option or
/// argument of this transfer) naming `function` and, for setopt/getinfo, the option number.
@inline(__always)
func check(_ code: CURLcode, _ function: StaticString, option: UInt32? = nil) throws(TransportError) {
    if code != CURLE_OK { throw curlError(code, function, option: option) }
}

/// Throws unless `code` is `CURLM_OK`: an `.other` error naming `function` (a multi-handle call
/// fails only on a bug or when memory runs out; `curlCode` stays 0, it is no `CURLcode`).
@inline(__always)
func check(_ code: CURLMcode, _ function: StaticString) throws(TransportError) {
    if code != CURLM_OK { throw curlError(code, function) }
}

private func curlError(_ code: CURLcode, _ function: StaticString, option: UInt32?) -> TransportError {
    let which = option.map { " (option \($0))" } ?? ""
    return TransportError(kind: .invalidRequest, curlCode: Int(code.rawValue),
                          message: "\(function)\(which) failed: \(String(cString: curl_easy_strerror(code)))")
}

private func curlError(_ code: CURLMcode, _ function: StaticString) -> TransportError {
    TransportError(kind: .other, message: "\(function) failed: \(String(cString: curl_multi_strerror(code))) [CURLMcode \(code.rawValue)]")
}
