import Testing
@testable import ChoreoHTTP

/// `CurlTransfer.statusLine` reads a response's status line from its bytes; it must read what the
/// `String.split` it replaced read (the words around the first run of spaces, `Int` of the second).
@Suite("Status line")
struct StatusLineTests {
    @Test(arguments: ["HTTP/1.1 200 OK", "HTTP/2 200", "HTTP/1.1 404 Not Found", "HTTP/1.1  503  Service Unavailable",
                      "HTTP/1.0 abc", "HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1 2000 x", "HTTP/1.1 20x", "HTTP/1.1 429 Too Many Requests",
                      "HTTP/1.1 1234567890123 big"])
    func readsWhatSplitRead(line: String) {
        let parts = line.split(separator: " ", maxSplits: 2)
        let expected = (version: parts.first.map(String.init) ?? "", status: parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
        let got = Array(line.utf8).withUnsafeBytes { CurlTransfer.statusLine($0) }
        #expect(got.version == expected.version)
        #expect(got.status == (expected.status > 999_999_999 ? 0 : expected.status), "\(line)")
    }
}
