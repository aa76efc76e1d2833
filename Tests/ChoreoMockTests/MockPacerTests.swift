import ChoreoAI
import Foundation
import NIOCore
import NIOEmbedded
import Testing
@testable import ChoreoMock

/// The mock paces every stream of an event loop on one timer (`MockPacer`): each wake comes
/// exactly one delay after it was asked for, in the order asked, however many streams wait.
@Suite("Mock: one pacer for a loop's streams")
struct MockPacerTests {
    @Test func eachWakeComesOneDelayAfterItWasAskedForInOrder() {
        let loop = EmbeddedEventLoop()
        let pacer = MockPacer(loop: loop)
        var woken: [String] = []
        let delay = TimeAmount.milliseconds(100)
        pacer.after(delay) {
            woken.append("a")
            pacer.after(delay) { woken.append("a again") }  // waits behind b, asked for earlier
        }
        loop.advanceTime(by: .milliseconds(40))
        pacer.after(delay) { woken.append("b") }
        pacer.after(delay) { woken.append("c") }  // the same deadline as b: woken with it

        loop.advanceTime(by: .milliseconds(59))
        #expect(woken == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(woken == ["a"])
        loop.advanceTime(by: .milliseconds(39))
        #expect(woken == ["a"])
        loop.advanceTime(by: .milliseconds(1))
        #expect(woken == ["a", "b", "c"])
        loop.advanceTime(by: .milliseconds(59))
        #expect(woken == ["a", "b", "c"])
        loop.advanceTime(by: .milliseconds(1))
        #expect(woken == ["a", "b", "c", "a again"])
        loop.advanceTime(by: .seconds(10))
        #expect(woken.count == 4)
    }

    /// Many streams at once over real sockets: every one whole, and none faster than its
    /// delays allow (a wake early would let a stream's chunks out sooner).
    @Test func manyPacedStreamsAtOnceEachKeepTheirDelays() async throws {
        let tokens = 8, delay = 20
        let server = try await MockServer.start(config: MockConfig(chunkDelay: .milliseconds(delay), fixedTokens: tokens))
        let body: JSONValue = ["model": "mock-gpt", "stream": true, "messages": [["role": "user", "content": "pace me"]]]
        let streams = 200
        let results = try await withThrowingTaskGroup(of: (MockExchange, Duration).self) { group in
            for _ in 0..<streams {
                group.addTask {
                    let start = ContinuousClock.now
                    let exchange = try await post(server, "/v1/chat/completions", body)
                    return (exchange, ContinuousClock.now - start)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await server.shutdown()
        #expect(results.count == streams)
        for (exchange, took) in results {
            #expect(exchange.error == nil)
            #expect(exchange.status == 200)
            let content = exchange.eventJSON.filter { !($0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? "").isEmpty }
            #expect(content.count == tokens)
            #expect(took >= .milliseconds(tokens * delay), "a stream of \(tokens) chunks \(delay) ms apart took \(took)")
        }
        let stats = server.stats()
        #expect(stats.completed == streams && stats.streamsActive == 0, "\(stats)")
    }
}
