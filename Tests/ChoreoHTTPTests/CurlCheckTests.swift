import ChoreoHTTP
import Testing

/// Every curl return code goes through one `check`: a call curl refuses ends the request with an
/// error that names the call, instead of being dropped and failing later for another reason.
@Suite("curl return codes")
struct CurlCheckTests {
    @Test func aRefusedOptionFailsTheRequestNamingTheCurlCall() async throws {
        // libcurl refuses a string option over 8,000,000 bytes (CURL_MAX_INPUT_LENGTH). Ignored,
        // the transfer then ran without a URL and failed as "No URL set".
        let url = "http://127.0.0.1:9/" + String(repeating: "a", count: 8_000_001)
        let error = await #expect(throws: TransportError.self) {
            _ = try await CurlTransport.shared.execute(HTTPRequest(url: url, method: "GET"))
        }
        #expect(error?.kind == .invalidRequest)
        #expect(error?.message.hasPrefix("curl_easy_setopt (option 10002) failed") == true, "\(String(describing: error))")
        #expect(error?.origin == "http://127.0.0.1:9")
    }
}
