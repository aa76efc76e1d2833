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
}
