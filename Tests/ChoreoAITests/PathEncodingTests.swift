import Foundation
import Testing
@testable import ChoreoAI
#if canImport(Glibc)
import Glibc
#endif

/// User data in a URL path is one percent-encoded segment (RELIABILITY.md, "Hostile input").
@Suite struct PathEncodingTests {
    /// A one-request HTTP server on 127.0.0.1: records the request line, answers 400.
    final class RequestLineRecorder: @unchecked Sendable {
        let port: UInt16
        private let fd: Int32
        private let lock = NSLock()
        private var line: String?

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            guard bound, listen(fd, 4) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
            self.fd = fd
            port = UInt16(bigEndian: address.sin_port)
            Thread { [self] in serveOne() }.start()
        }

        deinit { close(fd) }

        var requestLine: String? { lock.withLock { line } }

        private func serveOne() {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.split(separator: 0x0A, omittingEmptySubsequences: false).contains(where: { $0 == [0x0D] }) {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                received += buffer[..<n]
            }
            let first = String(decoding: received.prefix { $0 != 0x0D }, as: UTF8.self)
            lock.withLock { line = first }
            let body = #"{"error":{"code":400,"message":"recorded","status":"INVALID_ARGUMENT"}}"#
            let response = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
            _ = response.withCString { write(client, $0, strlen($0)) }
            // Read what is left of the request until the client closes, so closing resets nothing.
            shutdown(client, Int32(SHUT_WR))
            while read(client, &buffer, buffer.count) > 0 {}
        }
    }

    @Test func geminiModelIsOnePercentEncodedSegmentOnTheWire() async throws {
        let server = try RequestLineRecorder()
        let provider = Provider(name: "gemini", kind: .gemini, baseURL: "http://127.0.0.1:\(server.port)/v1beta", apiKey: "k")
        let client = ChoreoClient(router: ProviderRouter(providers: [provider]))
        // Valid by the job-file rules, and every character that means something in a path.
        let body: JSONValue = ["model": "gemini-x/../admin@v1+exp:2", "messages": [["role": "user", "content": "hi"]]]
        await #expect(throws: APIError.self) { _ = try await client.stream(body: body, provider: provider) }
        #expect(server.requestLine == "POST /v1beta/models/gemini-x%2F..%2Fadmin%40v1%2Bexp%3A2:streamGenerateContent?alt=sse HTTP/1.1")
    }

    @Test func aSegmentKeepsOnlyUnreservedCharacters() {
        #expect(GeminiWire.pathSegment("gemini-2.5-flash_x~y") == "gemini-2.5-flash_x~y")
        #expect(GeminiWire.pathSegment("../../admin/delete?confirm=1&key=") == "..%2F..%2Fadmin%2Fdelete%3Fconfirm%3D1%26key%3D")
        #expect(GeminiWire.pathSegment("a b#c%d é") == "a%20b%23c%25d%20%C3%A9")
        #expect(GeminiWire.pathSegment("..") == "%2E%2E")
    }
}
