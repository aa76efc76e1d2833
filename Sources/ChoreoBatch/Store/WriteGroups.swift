/// The gathering half of group commit, for one connection owned by an actor: writes that arrive
/// while another group is being committed, or while one is being gathered, are handed to ONE call
/// of the committer, and every caller gets its own result or its own error. `WriteBatcher` commits
/// its groups on SQLite (a write that fails is undone alone); `PostgresJobStore` on PostgreSQL (a few
/// statements per group, whatever its size).
///
/// Leader and followers: a write that finds no group forming becomes the leader. It enqueues
/// itself and yields the actor, so callers already waiting for the actor run first and join the
/// group as followers (they suspend on a continuation); it keeps yielding while that brings new
/// writes (up to `maxGroup`). Then it runs the committer on the whole group synchronously on the
/// actor — nobody can join meanwhile; callers arriving during the commit wait for the actor and
/// form the next group — and resumes the followers. A lone write pays one `Task.yield()`, never a
/// timed wait.
///
/// Not `Sendable`: its owner actor calls `submit` with itself as the isolation, so the queue is
/// only ever used on that actor.
final class WriteGroups<Write, Output: Sendable> {
    private struct Queued {
        let write: Write
        /// nil for the leader's own write (it waits on the stack, not on a continuation).
        let continuation: CheckedContinuation<Output, any Error>?
    }

    private let maxGroup: Int
    private var queue: [Queued] = []
    private var gathering = false

    init(maxGroup: Int = 256) {
        self.maxGroup = maxGroup
    }

    /// Runs `write` in the next group and returns its own result (or throws its own error).
    /// `commit` gets the group's writes in the order they arrived and returns one result per
    /// write, in that order; the leader's `commit` is the one that runs. `isolation` must be the
    /// actor that owns these groups and the connection `commit` writes to.
    func submit(_ write: Write, isolation: isolated any Actor,
                commit: ([Write]) -> [Result<Output, any Error>]) async throws -> Output {
        if gathering {
            return try await withCheckedThrowingContinuation(isolation: isolation) { continuation in
                queue.append(Queued(write: write, continuation: continuation))
            }
        }
        gathering = true
        queue.append(Queued(write: write, continuation: nil))
        // Let every caller already waiting for the actor join; go on while that brings new ones.
        var seen = 0
        while queue.count > seen, queue.count < maxGroup {
            seen = queue.count
            await Task.yield()
        }
        let group = queue
        queue = []
        gathering = false
        let results = commit(group.map(\.write))
        precondition(results.count == group.count, "a group commit returns one result per write")
        for (item, result) in zip(group, results).dropFirst() {
            item.continuation!.resume(with: result)
        }
        return try results[0].get()
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
