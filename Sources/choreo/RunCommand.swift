import ArgumentParser
import ChoreoBatch

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Stream every pending job, writing partial output as it arrives.",
        discussion: """
            Runs the runnable jobs of the database (or of one batch) with at most --concurrency streams in \
            flight. Partial output is written every --flush-interval-ms; the final output, usage and timings \
            land with the job's state. Failures are classified: connection errors, stalls, cut streams, 408, \
            409, 429, 5xx and 529 are retried with backoff (honouring retry-after); 4xx fail at once; a \
            quota error stops the provider. Two runners on one database never run the same job, and the \
            jobs of a killed runner are taken back when their lease expires. Safe to start from cron.

            A provider outage is not a job failure. When requests to a provider keep failing in ways that say \
            it is unreachable (connection refused or reset, DNS, TLS, empty reply, 502/503/504/529, every \
            stream stalling), the whole provider is paused and probed with one request at growing intervals \
            (1 s up to 60 s); it resumes when it answers, and the attempts its jobs lost to the outage are \
            given back. An outage longer than --outage-limit (default 15m), or a provider that has not \
            answered once within --first-answer-limit (default 60s), stops the wait: its jobs stay pending, \
            the run ends with exit 3 and a line naming the provider and the cause. A 429 (rate limited) \
            pauses the provider for the wait it asks and uses up none of the job's attempts; a provider \
            that answers nothing but 429s for --outage-limit (a daily quota spent) is left the same way, \
            and a job that has heard nothing but 429s that long counts them again. See RELIABILITY.md.

            Exit codes:
              0    every job succeeded
              1    some jobs failed for good (see `choreo status`, and
                   `choreo results --state failed`)
              2    usage or configuration error
              3    work is left: deadline reached, a provider unreachable, or jobs
                   held by another runner
              74   the database file was deleted or replaced during the run: what
                   this run wrote since is not in the file at --db
              75   the database's disk is full (or fails): no job started, writes
                   were retried for --storage-wait (default 60s); free space and
                   run again, it continues the jobs
              130  interrupted by SIGINT (143: SIGTERM, 129: SIGHUP); jobs in flight
                   stay retryable, with the text they received. A second signal,
                   or --stop-grace after the first, exits at once (still writing
                   that text)

            Examples:
              choreo run
              choreo run --batch batch_0123456789ab --concurrency 256 --deadline 50m
              choreo run --mock --mock-fault-rate 0.2    # rehearse against the mock
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(name: .long, help: "Only this batch.") var batch: String?
    @OptionGroup var flags: RunFlags
    @OptionGroup var providers: ProviderOptions

    func run() async throws {
        let code = try await RunSession.execute(databasePath: database.path, batch: batch, flags: flags, providers: providers)
        if code != 0 { throw ExitCode(code) }
    }
}
