import Foundation
import ChoreoLocking

/// What a `MockServer` has seen since it started (also served as JSON at `GET /mock/stats`).
public struct MockStats: Sendable, Hashable {
    /// HTTP requests received (all endpoints except `/mock/stats`).
    public var requests: Int
    /// Streamed responses in progress now.
    public var streamsActive: Int
    /// The most streamed responses in progress at once.
    public var streamsPeak: Int
    /// Responses (streamed or not) sent to their end without a fault.
    public var completed: Int
    /// Injected faults by `MockFault.Kind` raw value (`drop`, `429`, …).
    public var faultsByKind: [String: Int]
    /// Streams whose client closed the connection before the response ended.
    public var closedByClient: Int
    /// What the mock "bills", summed over every response that got a 200: the prompt of each (its
    /// cached part too), and the output it generated (all of it once the usage was sent or the
    /// answer ended; the chunks sent when a stream was cut before). A client's cost accounting
    /// must never come out below this (`choreo run --budget`'s test).
    public var billedPromptTokens = 0
    public var billedCachedPromptTokens = 0
    public var billedCompletionTokens = 0

    public init(requests: Int = 0, streamsActive: Int = 0, streamsPeak: Int = 0, completed: Int = 0,
                faultsByKind: [String: Int] = [:], closedByClient: Int = 0) {
        self.requests = requests
        self.streamsActive = streamsActive
        self.streamsPeak = streamsPeak
        self.completed = completed
        self.faultsByKind = faultsByKind
        self.closedByClient = closedByClient
    }

    /// Total injected faults of all kinds.
    public var faults: Int { faultsByKind.values.reduce(0, +) }

    /// The stats as a JSON object, keys as the property names.
    var json: MockJSON {
        .object([
            "requests": .int(requests),
            "streamsActive": .int(streamsActive),
            "streamsPeak": .int(streamsPeak),
            "completed": .int(completed),
            "faultsByKind": .object(faultsByKind.mapValues { .int($0) }),
            "closedByClient": .int(closedByClient),
            "billedPromptTokens": .int(billedPromptTokens),
            "billedCachedPromptTokens": .int(billedCachedPromptTokens),
            "billedCompletionTokens": .int(billedCompletionTokens),
        ])
    }
}

/// When things happened at a `MockServer`, in seconds since 1970: tests of pacing across many
/// clients (a rate limit shared by runners) count the requests in windows of time.
public struct MockTimeline: Sendable {
    /// The arrival of every request counted in `MockStats.requests`, in order.
    public var requests: [Double] = []
    /// Each injected fault (its `MockFault.Kind` raw value) and when it was answered, in order.
    public var faults: [(kind: String, at: Double)] = []
}

/// The server's counters and per-request attempt numbers, shared by every connection.
final class MockLedger: Sendable {
    private let stats = Locked(MockStats())
    private let attempts = Locked([UInt64: Int]())
    private let times = Locked(MockTimeline())

    var snapshot: MockStats { stats.withLock { $0 } }

    var timeline: MockTimeline { times.withLock { $0 } }

    private var now: Double { Date().timeIntervalSince1970 }

    func requestReceived() {
        stats.withLock { $0.requests += 1 }
        let t = now
        times.withLock { $0.requests.append(t) }
    }

    func streamStarted() {
        stats.withLock {
            $0.streamsActive += 1
            $0.streamsPeak = max($0.streamsPeak, $0.streamsActive)
        }
    }

    func streamEnded() { stats.withLock { $0.streamsActive -= 1 } }

    func completed() { stats.withLock { $0.completed += 1 } }

    func closedByClient() { stats.withLock { $0.closedByClient += 1 } }

    func bill(_ bill: MockBill, completion: Int) {
        stats.withLock {
            $0.billedPromptTokens += bill.promptTokens
            $0.billedCachedPromptTokens += bill.cachedPromptTokens
            $0.billedCompletionTokens += completion
        }
    }

    func fault(_ kind: MockFault.Kind) {
        stats.withLock { $0.faultsByKind[kind.rawValue, default: 0] += 1 }
        let t = now
        times.withLock { $0.faults.append((kind.rawValue, t)) }
    }

    /// Counts one more attempt of the request with `key` and returns its number (1 = first).
    func nextAttempt(key: UInt64) -> Int {
        attempts.withLock { table in
            table[key, default: 0] += 1
            return table[key]!
        }
    }
}

/// The token counts of one reply, as the mock bills them.
struct MockBill: Sendable {
    var promptTokens: Int
    var cachedPromptTokens: Int
    var completionTokens: Int
    var reasoningTokens: Int

    init(_ reply: MockReply) {
        promptTokens = reply.promptTokens
        cachedPromptTokens = reply.cachedPromptTokens
        completionTokens = reply.completionTokens
        reasoningTokens = reply.reasoningTokens
    }

    /// An embeddings response: prompt tokens only.
    init(promptTokens: Int) {
        self.promptTokens = promptTokens
        cachedPromptTokens = 0
        completionTokens = 0
        reasoningTokens = 0
    }
}
