import ChoreoMock
import ChoreoTesting
import Testing
@testable import ChoreoHTTP

/// A transfer used against its contract stops the process with a message that says what was done
/// wrong, instead of racing its loop or splitting its body between two readers. Each runs against
/// the mock provider in a child process (`#expect(processExitsWith:)`).
@Suite("Transfer misuse")
struct TransferMisuseTests {
    @Test func touchingTransferStateOffTheLoopThreadStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            try await withMockServer(config: MockConfig(fixedTokens: 10)) { server in
                let response = try await CurlTransport.shared.execute(StallSweepTests.streamingRequest(server))
                // The stall check reads the easy handle and the stall clock: the loop's alone.
                _ = response.body.owner.transfer.watchdog(now: 0)
            }
        }
        let message = exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
        #expect(message.contains("curl transfer state touched off its loop thread"), "\(message)")
        #expect(message.contains("\"choreo-curl\""), "\(message)")
    }

    @Test func aSecondIteratorOfAResponseBodyStopsTheProcess() async throws {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            try await withMockServer(config: MockConfig(fixedTokens: 10)) { server in
                let response = try await CurlTransport.shared.execute(StallSweepTests.streamingRequest(server))
                var first = response.body.makeAsyncIterator()
                _ = try await first.next()
                _ = response.body.makeAsyncIterator()
            }
        }
        let message = exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
        #expect(message.contains("HTTPBody.makeAsyncIterator() was called a second time: its elements are consumed as they are read, by one consumer"), "\(message)")
    }

    @Test func oneIteratorReadsTheWholeBody() async throws {
        // The check's other side: a body read once, by one iterator, reads to its end.
        try await withMockServer(config: MockConfig(fixedTokens: 10)) { server in
            let response = try await CurlTransport.shared.execute(StallSweepTests.streamingRequest(server))
            let text = String(decoding: try await response.body.collect(), as: UTF8.self)
            #expect(text.hasSuffix("data: [DONE]\n\n"), "\(text)")
        }
    }
}
