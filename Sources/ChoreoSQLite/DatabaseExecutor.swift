#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A serial executor with a thread of its own, for the actor that owns a connection
/// (`nonisolated var unownedExecutor`). SQLite's calls block: a statement waits up to its busy
/// timeout for another process's lock, a commit for the disk. On Swift's cooperative pool (one
/// thread per core: two on the machines Choreo runs on) each such wait would hold a thread every
/// other task needs, the streams' ends and the progress among them. GRDB serializes each
/// connection on a dispatch queue of its own for the same reason (`SerializedDatabase`).
///
/// Jobs run in the order they were enqueued, one at a time, on the executor's thread. The thread
/// ends once `shutdown()` was called and the jobs enqueued before are done; the owner calls it
/// from its `deinit`.
public final class DatabaseExecutor: SerialExecutor, @unchecked Sendable {
    // Guarded by `mutex`; `condition` wakes the thread when a job arrives or on shutdown.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var thread = pthread_t()
    /// Jobs enqueued and not yet begun (`hasQueuedJobs`).
    private let queued = Atomic<Int>(0)

    /// Starts the thread.
    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        // The thread holds the executor until it ends.
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            let executor = Unmanaged<DatabaseExecutor>.fromOpaque(context!).takeRetainedValue()
            executor.runJobs()
            return nil
        }, context)
        precondition(rc == 0, "could not start the database thread: \(String(cString: strerror(rc)))")
        pthread_detach(thread)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        precondition(!stopping, "a job was enqueued on a database executor after its shutdown")
        jobs.append(job)
        queued.add(1, ordering: .relaxed)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// Whether jobs wait to run after the current one: a group commit's leader yields to let them
    /// join only then (`WriteGroups`). A job enqueued a moment later may not be counted yet.
    public var hasQueuedJobs: Bool { queued.load(ordering: .relaxed) > 0 }

    /// True on the executor's own thread (tests, preconditions).
    public var isCurrentThread: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Lets the thread end once the jobs enqueued so far have run.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func runJobs() {
        let executor = asUnownedSerialExecutor()
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopping { pthread_cond_wait(condition, mutex) }
            if jobs.isEmpty {
                pthread_mutex_unlock(mutex)
                return
            }
            // Everything enqueued so far, in order, without the lock: jobs may enqueue more.
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
            for job in batch {
                queued.subtract(1, ordering: .relaxed)
                job.runSynchronously(on: executor)
            }
        }
    }
}
