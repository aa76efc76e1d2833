import ChoreoAI

/// Keeps this runner's leases on the jobs it holds: renews them every third of the lease, and
/// fences the runner off when renewals stop getting through.
///
/// A lease renewed at `t` lasts until `t + lease` in the database, and from then on another
/// runner may take the job. A runner cut off from its database (a network partition, a server
/// that stopped answering) cannot know whether that has happened, and its provider may well still
/// be streaming to it: two runners would then stream, and pay for, the same job at once. So once
/// no renewal has succeeded for three quarters of the lease, the keeper stops every stream of the
/// runner (each attempt ends as interrupted, its text kept), every request still waiting for its
/// response head (no stream owns those yet, and through a cut link a head may never come while the
/// provider generates), and the runner claims nothing until a renewal succeeds again: the
/// requests stop before any lease can have passed. (What an attempt
/// writes when the database comes back is refused as `lease_lost` where another runner took the
/// job meanwhile, `JobStore.endAttempt`.)
///
/// Not while the storage itself is failing (a full disk, `StorageHealth`): then no runner can
/// write, so no other runner can take a job either, and the streams go on with their text kept
/// in memory (`--storage-wait`).
final class LeaseKeeper: Sendable {
    /// The share of the lease after which, without a renewal, the runner's streams are stopped.
    static let fenceShare = 0.75

    private let store: any JobStore
    private let leaseSeconds: Double
    private let storage: StorageHealth
    private let events: RunEvents
    private let control: RunControl
    private let flusher: PartialFlusher
    /// The runner's requests, stopped with its streams.
    private let client: ChoreoClient

    init(store: any JobStore, leaseSeconds: Double, storage: StorageHealth, events: RunEvents, control: RunControl, flusher: PartialFlusher,
         client: ChoreoClient) {
        self.store = store
        self.leaseSeconds = leaseSeconds
        self.storage = storage
        self.events = events
        self.control = control
        self.flusher = flusher
        self.client = client
        control.setLeaseHorizon(.now + fence)
    }

    /// How long after a renewal began its leases surely hold: the fence goes up then.
    private var fence: Duration { .seconds(leaseSeconds * Self.fenceShare) }

    /// Renews the leases once; throws what the store threw.
    func renew() async throws {
        let began = ContinuousClock.now
        try await store.heartbeat(leaseSeconds: leaseSeconds)
        renewed(began: began)
    }

    /// A renewal that began at `began` got through (by `now`): the leases run from `began`.
    func renewed(began: ContinuousClock.Instant, now: ContinuousClock.Instant = .now) {
        // The leases run from when the renewal began (`RunControl.leaseHorizon` keeps the latest).
        control.setLeaseHorizon(began + fence)
        // A renewal that hung through the partition began too long ago to vouch for the leases
        // (lifting the fence on it fenced again at once); the next one, sent now, does.
        // A run that is stopping keeps its requests stopped (`BatchRunner.run`).
        if control.leasesLapsed && now - began < fence && !control.isStopping {
            control.setLeasesLapsed(false)
            client.resumeRequests()
            events.log(.info, "the database answers again: this runner's leases are renewed and it takes jobs again")
        }
    }

    /// Renews every third of the lease and watches for renewals that stop getting through, until
    /// cancelled. A renewal may hang (a partition holds a database connection until TCP gives
    /// up): the watch does not wait for it.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(self.leaseSeconds / 3))
                    if Task.isCancelled { break }
                    do {
                        try await self.renew()
                        self.storage.committed()
                    } catch {
                        self.storage.failed(error)
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(self.leaseSeconds / 20))
                    if Task.isCancelled { break }
                    self.watch()
                }
            }
        }
    }

    /// Fences the runner off once no renewal has succeeded for `fenceShare` of the lease.
    func watch(now: ContinuousClock.Instant = .now) {
        guard let horizon = control.leaseHorizon, now >= horizon, !control.leasesLapsed, !storage.isFaulty else { return }
        let since = now - horizon + fence  // since the last renewal that got through began
        control.setLeasesLapsed(true)
        client.stopRequests()
        events.log(.warning, "no lease renewal got through to the database for \(Int(since.components.seconds)) s: "
            + "this runner stops its streams before its leases can pass (another runner may take the jobs), "
            + "and takes no job until the database answers again")
        flusher.cancelAllStreams()
    }
}
