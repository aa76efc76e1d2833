import ChoreoSQLite
/// Group commit for one SQLite connection owned by an actor: the writes `WriteGroups` gathers
/// run together in ONE `BEGIN IMMEDIATE … COMMIT`, and every caller gets its own result or its
/// own error.
///
/// A write that throws is undone alone: the group runs again with a savepoint for each write,
/// and the others commit. Only a failure of the transaction itself (BEGIN, COMMIT, or an error
/// after which SQLite rolled the whole transaction back, such as a full disk) fails every write
/// of the group: none of them is written.
///
/// A busy database (another process held the write lock past the busy timeout) fails the
/// group's BEGIN, so every write of the group gets the busy error. A write submitted
/// `untilCommitted` then waits (asynchronously: the actor is free meanwhile) and tries again, in
/// whatever group forms then, until it commits or its caller's task is cancelled. A storage fault
/// (a full disk, an I/O error) is waited out the same way, but only for as long as `storage`
/// allows; every commit and every storage fault is reported to it.
///
/// Not `Sendable`: its owner actor calls `submit` with itself as the isolation, so the groups, the
/// connection and `apply` are only ever used on that actor.
final class WriteBatcher<Write, Output: Sendable> {
    typealias Stats = GroupCommitStats

    private let db: Database
    private let storage: StorageHealth?
    private let apply: (Write) throws -> Output
    private let groups: WriteGroups<Write, Output>
    private(set) var stats = Stats()
    /// How many times a group's leader yielded to gather it (tests, diagnostics).
    var yields: Int { groups.yields }

    /// `apply` runs one write's statements; it is called inside the group's transaction, in a
    /// savepoint of its own, and must not open a transaction itself.
    /// `othersWaiting`: whether callers wait for the owner actor (`WriteGroups`).
    init(db: Database, maxGroup: Int = 256, storage: StorageHealth? = nil, othersWaiting: (() -> Bool)? = nil,
         apply: @escaping (Write) throws -> Output) {
        self.db = db
        self.storage = storage
        self.groups = WriteGroups(maxGroup: maxGroup, othersWaiting: othersWaiting)
        self.apply = apply
    }

    /// Runs `write` in the next group transaction and returns its own result (or throws its own
    /// error). `isolation` must be the actor that owns this batcher and its connection.
    ///
    /// `untilCommitted`: a busy database is waited out (backing off from 50 ms to 1 s between
    /// tries) until the write commits; only the cancellation of the calling task (the run stopping)
    /// ends the wait, with the busy error. Otherwise the busy error is thrown at once.
    func submit(_ write: Write, untilCommitted: Bool = false, isolation: isolated any Actor) async throws -> Output {
        try await submit([write], untilCommitted: untilCommitted, isolation: isolation)[0].get()
    }

    /// Runs `writes` in the next group transaction, as `submit(_:)` runs one, and returns each
    /// one's own result in their order: one wait for all of them. With `untilCommitted`, the writes
    /// that failed on a busy or faulty database are tried again, together, until they commit.
    func submit(_ writes: [Write], untilCommitted: Bool = false, isolation: isolated any Actor) async -> [Result<Output, any Error>] {
        var results = [Result<Output, any Error>?](repeating: nil, count: writes.count)
        var waiting = Array(writes.indices)
        var pause = 0.05
        while true {
            let tried = await groups.submit(waiting.map { writes[$0] }, isolation: isolation) { commit($0) }
            var again: [Int] = []
            var committed = false, checkpoint = false
            for (index, result) in zip(waiting, tried) {
                switch result {
                case .success:
                    results[index] = result
                    committed = true
                case .failure(let error as SQLiteError)
                        where untilCommitted && !Task.isCancelled && (error.isBusy || storage?.retries(error) == true):
                    again.append(index)
                    checkpoint = checkpoint || error.isStorageFault
                case .failure(let error):
                    storage?.failed(error)
                    results[index] = result
                }
            }
            if committed { storage?.committed() }
            if again.isEmpty { return results.map { $0! } }
            // A full disk often holds a large WAL of old page versions: SQLite checkpoints only
            // after a commit, so one that cannot commit never would. Emptying it can free the room.
            if checkpoint, storage?.checkpointDue() == true { _ = try? db.checkpoint(wait: 0.2) }
            try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            pause = min(1, pause * 2)
            waiting = again
        }
    }

    /// One transaction for the group. Synchronous: nothing else runs on the actor meanwhile.
    ///
    /// The writes run first without a savepoint each, since they almost never fail: a savepoint
    /// is two statements more per write, and SQLite keeps a copy of every page a write changes
    /// under one (the group's shared index and counter pages again for each write). Should one
    /// throw, the whole transaction is rolled back and the group runs again, each write in its
    /// own savepoint, so that the others commit without it.
    private func commit(_ group: [Write]) -> [Result<Output, any Error>] {
        let results: [Result<Output, any Error>]
        do {
            results = try db.transaction(.immediate) {
                try group.map { write in
                    do { return .success(try apply(write)) } catch { throw WriteFailed(error: error) }
                }
            }
        } catch let failed as WriteFailed {
            // Alone, a write's error is its group's: the transaction was rolled back with it.
            if group.count == 1 { return [.failure(failed.error)] }
            stats.reruns += 1
            do {
                results = try db.transaction(.immediate) { try group.map { try applyInSavepoint($0) } }
            } catch {
                return group.map { _ in .failure(error) }
            }
        } catch {
            return group.map { _ in .failure(error) }
        }
        stats.committed(group.count)
        return results
    }

    /// A write of a group threw `error` (its transaction is rolled back).
    private struct WriteFailed: Error {
        let error: any Error
    }

    /// Runs one write of a group in a savepoint (a nested `transaction`); a write that throws is
    /// undone alone and its error returned.
    private func applyInSavepoint(_ write: Write) throws -> Result<Output, any Error> {
        do {
            return .success(try db.transaction { try apply(write) })
        } catch {
            // A statement error leaves the transaction open, and only this write was rolled back.
            // Some errors (disk full, I/O) make SQLite roll the whole transaction back: then the
            // earlier writes are gone too, and the group fails as one.
            guard db.isInTransaction else { throw error }
            return .failure(error)
        }
    }
}
