import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// The ChoreoTesting helpers fail when they should: a helper that cannot fail would pass every
/// test that leans on it.
@Suite struct TestingHelpersTests {
    struct Boom: Error {}

    @Test func withMockServerShutsTheServerDownWhenTheBodyThrows() async throws {
        var port = 0
        await #expect(throws: Boom.self) {
            try await withMockServer { server in
                port = server.port
                throw Boom()
            }
        }
        // Nothing listens there any more: a new server can take the port.
        try await withMockServer(port: port) { server in #expect(server.port == port) }
    }

    @Test func eventuallyNamesWhatItWaitedFor() async throws {
        let error = await #expect(throws: TimedOut.self) {
            try await eventually("a condition that never holds", timeout: 0.05) { false }
        }
        #expect(error?.description.contains("waiting for a condition that never holds") == true)
        #expect(error?.place.hasPrefix("ChoreoMockTests/TestingHelpersTests.swift:") == true)
    }

    @Test func theEverySplitVerifierCatchesAParserThatDependsOnTheCuts() throws {
        let input = Array("data: a\n\n".utf8)
        // Fails for every split but the whole one (pieces count 1) and the empty first piece.
        withKnownIssue {
            try expectEverySplitMatchesWhole(input) { pieces in pieces.filter { !$0.isEmpty }.count }
        }
        #expect(try expectEverySplitMatchesWhole(input) { $0.flatMap { $0 } } == input)
    }
}
