/// The gathering half of group commit, for one connection owned by an actor: writes that arrive
/// while another group is being committed, or while one is being gathered, are handed to ONE call
/// of the committer, and every caller gets its own result or its own error. `WriteBatcher` commits
/// its groups on SQLite (a write that fails is undone alone); `PostgresJobStore` on PostgreSQL (a few
/// statements per group, whatever its size).
///
/// Leader and followers: a caller that finds no group forming becomes the leader. It enqueues
/// its writes and yields the actor, so callers already waiting for the actor run first and join
/// the group as followers (they suspend on a continuation); it keeps yielding while that brings
/// new writes (up to `maxGroup`). Then it runs the committer on the whole group synchronously on
/// the actor — nobody can join meanwhile; callers arriving during the commit wait for the actor
/// and form the next group — and resumes the followers. A lone write pays one `Task.yield()`, or
/// none when the owner can tell that nobody waits for the actor (`othersWaiting`: `JobQueue` asks
/// its `DatabaseExecutor`), and never a timed wait. A caller may bring several writes: they join
/// one group together, and it is resumed once with all their results.
///
/// Not `Sendable`: its owner actor calls `submit` with itself as the isolation, so the queue is
/// only ever used on that actor.
final class WriteGroups<Write, Output: Sendable> {
    /// Who waits for a queued write's result.
    private enum Waiter {
        /// The leader's writes: it waits on the stack, not on a continuation.
        case leader
        /// A caller with several writes: queued in a row, the last one carries the continuation
        /// that gets all their results; the others are `partOfNext`.
        case partOfNext
        case caller(count: Int, CheckedContinuation<[Result<Output, any Error>], Never>)
    }

    private struct Queued {
        let write: Write
        let waiter: Waiter
    }

    private let maxGroup: Int
    /// Whether callers wait for the actor (nil: assume so). When none does, the leader commits at
    /// once: a yield would only cost its task two hops.
    private let othersWaiting: (() -> Bool)?
    private var queue: [Queued] = []
    private var gathering = false
    /// How many times a leader yielded to gather a group (tests, diagnostics).
    private(set) var yields = 0

    init(maxGroup: Int = 256, othersWaiting: (() -> Bool)? = nil) {
        self.maxGroup = maxGroup
        self.othersWaiting = othersWaiting
    }

    /// Runs `write` in the next group and returns its own result (or throws its own error).
    func submit(_ write: Write, isolation: isolated any Actor,
                commit: ([Write]) -> [Result<Output, any Error>]) async throws -> Output {
        try await submit([write], isolation: isolation, commit: commit)[0].get()
    }

    /// Runs `writes` in the next group, in this order, and returns each one's own result, in
    /// the same order: one caller, one wait, however many writes (a batch of streams that ended
    /// together). `commit` gets the group's writes in the order they arrived and returns one
    /// result per write, in that order; the leader's `commit` is the one that runs. `isolation`
    /// must be the actor that owns these groups and the connection `commit` writes to.
    func submit(_ writes: [Write], isolation: isolated any Actor,
                commit: ([Write]) -> [Result<Output, any Error>]) async -> [Result<Output, any Error>] {
        guard let last = writes.last else { return [] }
        if gathering {
            return await withCheckedContinuation(isolation: isolation) { continuation in
                for write in writes.dropLast() { queue.append(Queued(write: write, waiter: .partOfNext)) }
                queue.append(Queued(write: last, waiter: .caller(count: writes.count, continuation)))
            }
        }
        gathering = true
        for write in writes { queue.append(Queued(write: write, waiter: .leader)) }
        // Let every caller already waiting for the actor join; go on while that brings new ones.
        var seen = 0
        while queue.count > seen, queue.count < maxGroup, othersWaiting?() ?? true {
            seen = queue.count
            yields += 1
            await Task.yield()
        }
        let group = queue
        queue = []
        gathering = false
        let results = commit(group.map(\.write))
        precondition(results.count == group.count, "a group commit returns one result per write")
        for (i, item) in group.enumerated() {
            if case .caller(let count, let continuation) = item.waiter {
                continuation.resume(returning: Array(results[(i + 1 - count)...i]))
            }
        }
        return Array(results.prefix(writes.count))
    }
}

/// How many groups and writes a store committed, and its largest group (tests, diagnostics).
struct GroupCommitStats: Sendable, Equatable {
    var transactions = 0
    var writes = 0
    var largestGroup = 0
    /// Groups run a second time, a savepoint for each write, because one of their writes failed
    /// (`WriteBatcher`).
    var reruns = 0

    /// Counts one committed group of `count` writes.
    mutating func committed(_ count: Int) {
        transactions += 1
        writes += count
        largestGroup = max(largestGroup, count)
    }
}
