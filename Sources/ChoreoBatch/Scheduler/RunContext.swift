import ChoreoAI

/// What every job of one `BatchRunner.run` shares: the store, the client, the providers' gates,
/// the run's signals, flusher, options and event sink, its spending caps and request cache.
///
/// A class so that each job holds one reference: a `JobExecution` is copied into its task and,
/// while it streams, held by its stream's end, and these values by value were ~370 bytes of each
/// copy (issue 20: the memory of a slow stream).
final class RunContext: Sendable {
    let queue: any JobStore
    let client: ChoreoClient
    let gates: ProviderGates
    let control: RunControl
    let flusher: PartialFlusher
    let options: RunOptions
    let events: RunEvents
    /// The run's spending caps (nil: no budget).
    let budget: BudgetLedger?
    /// The run's request cache (nil: none).
    let cache: RunCache?

    init(queue: any JobStore, client: ChoreoClient, gates: ProviderGates, control: RunControl, flusher: PartialFlusher,
         options: RunOptions, events: RunEvents, budget: BudgetLedger?, cache: RunCache?) {
        self.queue = queue
        self.client = client
        self.gates = gates
        self.control = control
        self.flusher = flusher
        self.options = options
        self.events = events
        self.budget = budget
        self.cache = cache
    }

    /// Stops `scope` for the rest of the run (a bad key, an exhausted quota: `failure`), and says
    /// so once: its jobs are not sent from now on (`provider_stopped`).
    func stop(_ scope: StopScope, because failure: RequestFailure) {
        guard control.stop(scope, because: failure) else { return }
        events.log(.error, "\(scope) stopped for this run: \(failure.message); its other jobs are not sent "
            + "(failed as provider_stopped; `choreo resume` requeues them once the cause is fixed)")
    }

    /// Begins the attempts `starts` in one call of the store, and says whether the store's answer
    /// came too late for their requests to go: past this runner's lease horizon as it stood
    /// before the write (`RunControl.leaseHorizon`). A start whose commit is confirmed later (its
    /// answer held up by a partition, a lock) may have come after the lease passed and another
    /// runner took the job; such an attempt is given back unsent (`StartConfirmedLate`).
    func startAttempts(_ starts: [AttemptStart]) async -> (numbers: [Result<Int, any Error>], late: StartConfirmedLate?) {
        let horizon = control.leaseHorizon
        let numbers = await queue.startAttempts(starts)
        let lateBy = horizon.map { ContinuousClock.now - $0 }.flatMap { $0 >= .zero ? $0 : nil }
        return (numbers, lateBy.map(StartConfirmedLate.init(lateBy:)))
    }
}
