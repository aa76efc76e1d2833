import NIOCore
import ChoreoLocking
import Synchronization

/// What every connection of one server shares: configuration, counters, the provider dialects
/// and the open connections (so shutdown can close stalled streams).
final class MockServerState: Sendable {
    let config: MockConfig
    let ledger = MockLedger()
    let openAI: OpenAIMockResponder
    let openAIResponses: OpenAIResponsesMockResponder
    let anthropic = AnthropicMockResponder()
    private let connections = Locked([ObjectIdentifier: any Channel]())
    private let shuttingDown = Atomic(false)
    /// An outage in progress: every chat request fails this way until then (`MockServer.beginOutage`).
    private let outage = Locked<(until: ContinuousClock.Instant, kind: MockFault.Kind)?>(nil)
    private let pacers = Locked([ObjectIdentifier: MockPacer]())

    init(config: MockConfig, created: Int) {
        self.config = config
        self.openAI = OpenAIMockResponder(created: created)
        self.openAIResponses = OpenAIResponsesMockResponder(created: created)
    }

    func beginOutage(until: ContinuousClock.Instant, kind: MockFault.Kind) { outage.withLock { $0 = (until, kind) } }

    /// How a chat request fails now, if an outage is in progress.
    var outageFault: MockFault.Kind? {
        outage.withLock { o in
            guard let current = o, ContinuousClock.now < current.until else { o = nil; return nil }
            return current.kind
        }
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    func opened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
    }

    /// The pacer of `loop`'s streams (one a loop, made on first use).
    func pacer(for loop: any EventLoop) -> MockPacer {
        pacers.withLock { all in
            if let pacer = all[ObjectIdentifier(loop)] { return pacer }
            let pacer = MockPacer(loop: loop)
            all[ObjectIdentifier(loop)] = pacer
            return pacer
        }
    }

    /// Marks the server as stopping and returns the connections still open.
    func beginShutdown() -> [any Channel] {
        shuttingDown.store(true, ordering: .relaxed)
        return connections.withLock { Array($0.values) }
    }
}
