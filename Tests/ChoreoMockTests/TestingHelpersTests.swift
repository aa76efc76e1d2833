import ChoreoMock
import ChoreoTesting
import Foundation
import Glibc
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

    /// The test cluster's server lives as long as the tests that use it and is started through
    /// `PostgresServer.run`. A descriptor it inherits stays open for its life: a socket NIO
    /// accepted (NIO's have no close-on-exec) then never closes for its peer, so a response
    /// ended by closing the connection never ends and the client reports a stall (seen as
    /// `StallSweepTests`' "silent connection" in full-suite runs).
    @Test func aCommandTheTestClusterRunsInheritsNoDescriptorOfTheTestProcess() throws {
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)  // no O_CLOEXEC, like an accepted socket
        defer { close(pipe[0]); close(pipe[1]) }
        let scratch = TemporaryDirectory("choreo-spawn")
        let log = scratch.url.appendingPathComponent("fds.log").path
        try PostgresServer.run(["/bin/sh", "-c", "ls /proc/$$/fd"], log: log)
        let inherited = Set(try String(contentsOfFile: log, encoding: .utf8).split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
        #expect(inherited.contains(1), "the listing names the shell's own descriptors: \(inherited.sorted())")
        #expect(inherited.isDisjoint(with: pipe), "the command inherited \(pipe) (it had \(inherited.sorted()))")
    }
}
