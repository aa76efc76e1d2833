import ArgumentParser
import ChoreoAI
import ChoreoBatch
import ChoreoMock
import Foundation
import ChoreoSQLite

/// One run of the batch runner as the commands present it: providers (or the embedded mock),
/// signals, progress, the summary line and the exit code.
enum RunSession {
    static func execute(databasePath: String, batch: String?, flags: RunFlags, providers: ProviderOptions) async throws -> Int32 {
        try DatabaseOptions.requireExisting(databasePath)
        let renderer = ProgressRenderer(format: ProgressRenderer.Format(rawValue: flags.logFormat) ?? .text, quiet: flags.quiet,
                                         interval: flags.progressInterval)
        let (router, mock) = try await providers.makeRouter()
        if let mock { renderer.record(.init(time: Date(), level: .info, message: "using the built-in mock provider at \(mock.baseURL)")) }
        let events = RunEvents(sink: { renderer.record($0) })
        var options = flags.runOptions(batch: batch)
        options.prices = try providers.priceTable()
        options.embeddedMock = mock != nil
        let fit = OpenFiles.streamsThatFit(options.concurrency, perStream: mock == nil ? 1 : 2)
        // Idle connections hold files too: curl keeps at most as many open as files allow.
        options.maxConnections = fit.connections
        if fit.streams < options.concurrency {
            if router.sharesConnections && mock == nil {
                // Over HTTPS curl asks for HTTP/2, and streams to one origin share a connection
                // (up to the server's limit, 100–1,000): the files bound the connections, not the
                // streams. A server speaking only HTTP/1.1 has the rest wait in curl's queue for
                // a connection; their stall clocks start when they are sent.
                renderer.record(.init(time: Date(), level: .info, message:
                    "--concurrency \(options.concurrency) is more streams than this process may open files (\(fit.limit): ulimit -Hn): "
                    + "at most \(fit.connections) connections at once, each carrying many streams over HTTP/2; "
                    + "a provider speaking only HTTP/1.1 runs \(fit.connections) streams at a time"))
            } else {
                renderer.record(.init(time: Date(), level: .warning, message:
                    "--concurrency \(options.concurrency) needs more open files than this process may have (\(fit.limit): ulimit -Hn)"
                    + (mock == nil ? "" : ", two per stream with the built-in mock") + ": running \(fit.streams) streams at a time. "
                    + "Raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit) to run more"))
                options.concurrency = fit.streams
            }
        }
        if let deadline = options.deadline {
            renderer.record(.init(time: Date(), level: .info,
                                  message: "deadline \(DeadlineText.describe(deadline)): jobs start only while they can end by then"))
        }
        if options.cache == nil { options.cache = try providers.configuredCache() }
        let runner = BatchRunner(location: try StoreLocation(databasePath), options: options, router: router, events: events)
        let task = Task { try await runner.run() }
        let trap = SignalTrap()
        // Aborting: what the streams received is written and every held job given back, on a
        // connection of its own, then the process exits without waiting for the run's tasks.
        let abort: @Sendable (String) -> Void = { reason in
            renderer.record(.init(time: Date(), level: .warning, message: "\(reason): aborting; writing what was received"))
            do { try runner.abandon() } catch {
                renderer.record(.init(time: Date(), level: .error, message: "could not write what was received: \(error)"))
            }
            exit(trap.exitCode ?? ExitCodes.workLeft)
        }
        trap.install(cancelling: task, grace: flags.stopGrace, onFirst: { sig in
            renderer.record(.init(time: Date(), level: .warning,
                                  message: "\(SignalTrap.name(sig)): stopping; in-flight jobs keep their partial output and stay retryable (signal again to exit at once)"))
        }, onAbort: abort)
        if let deadline = options.deadline {
            trap.abort(after: deadline.timeIntervalSinceNow + flags.stopGrace,
                       reason: "the stop at the deadline took longer than its grace period (\(SignalTrap.seconds(flags.stopGrace)))", abort)
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(renderer.interval * 1e9))
                if Task.isCancelled { break }
                let snapshot = events.snapshot
                if snapshot.hasBegun { renderer.progress(snapshot) }
            }
        }
        let result = await task.result
        // An abort that began meanwhile exits the process itself.
        if !trap.disarm() { while true { try? await Task.sleep(nanoseconds: 1_000_000_000) } }
        ticker.cancel()
        try? await mock?.shutdown()
        let summary: RunSummary
        do {
            summary = try result.get()
        } catch let error as SQLiteError where error.isStorageFault {
            // The run could not even begin (register itself, claim): the disk is full already.
            renderer.record(.init(time: Date(), level: .error, message:
                "\(StorageHealth.describe(error, path: databasePath)); no job was started: free space, then run `choreo run` again",
                kind: "storage_full"))
            return trap.exitCode ?? ExitCodes.storageFull
        }
        var ending = ""
        switch summary.ending {
        case .finished where !summary.cancelledBatches.isEmpty:
            ending = "batch \(summary.cancelledBatches.joined(separator: ", ")) cancelled"
            if summary.left > 0 { ending += "; \(summary.left) jobs are held by another runner or waiting" }
        case .finished: ending = summary.left > 0 ? "\(summary.left) jobs are held by another runner or waiting" : "finished"
        case .deadline: ending = "deadline reached; \(summary.left) jobs left for the next run"
        case .interrupted: ending = "interrupted; \(summary.left) jobs left (run `choreo run` again to continue)"
        case .unreachable: ending = "\(summary.left) jobs left pending for the providers this run stopped waiting for"
        case .storageFull:
            ending = "stopped: the database cannot be written"
            renderer.record(.init(time: Date(), level: .error, message:
                "\(summary.stoppedBy ?? "the database cannot be written: \(databasePath)"); \(summary.left) jobs left pending, "
                + "each with the text of its last write that committed (the rest, kept in memory until now, is lost); "
                + "free space, then run `choreo run` again: it continues them", kind: "storage_full"))
        case .databaseLost:
            ending = "stopped: the database file was lost"
            renderer.record(.init(time: Date(), level: .error, message:
                "\(summary.stoppedBy ?? "the database file \(databasePath) was lost"): the results this run wrote are not all in "
                + "\(databasePath); run `choreo run` on the file you mean to complete: it runs what that file lacks",
                kind: "database_lost"))
        case .budget:
            let cap = summary.budget
            ending = "budget reached: \(Money.usd(cap?.spent ?? 0)) of \(Money.usd(cap?.limit ?? 0)) spent; \(Money.grouped(summary.left)) jobs left"
        }
        renderer.summary(events.snapshot, stopped: Self.stopped(summary), jobsLeft: summary.left)
        for u in summary.unreachable {
            let o = u.outage
            renderer.record(.init(time: Date(), level: .error, message:
                "provider \(o.provider) \(o.standing()) (\(o.cause)): \(u.jobsLeft) jobs left pending; \(o.remedy)", kind: "provider_unreachable"))
        }
        for p in summary.stoppedProviders {
            let notSent = p.jobsNotSent == 0 ? "" : "; \(Money.grouped(p.jobsNotSent)) of its jobs were not sent (provider_stopped): "
                + "once that is fixed (the key, the account, the base URL), "
                + (batch.map { "`choreo resume \($0)` sends them" } ?? "`choreo resume BATCH` sends them (`choreo status` lists the batches)")
            renderer.record(.init(time: Date(), level: .error, message: "\(p.subject) was stopped: \(p.reason)\(notSent)",
                                  kind: "provider_stopped"))
        }
        if let cache = summary.cache { renderer.record(.init(time: Date(), level: .info, message: Self.describe(cache))) }
        renderer.record(.init(time: Date(), level: summary.failed > 0 ? .warning : .info,
                              message: "\(summary.succeeded) succeeded, \(summary.failed) failed in this run: \(ending)"))
        if summary.ending == .budget { StandardError.print(ending) }
        return trap.exitCode ?? summary.exitCode
    }

    /// Why the run ended, one word for log shippers (the JSON summary's `stopped`).
    /// `cache: 120 jobs answered from the cache, saving $1.20; 30 sent (no stored answer yet)…`
    static func describe(_ c: CacheSummary) -> String {
        var s = "cache: \(Money.grouped(c.served)) jobs answered from the cache, saving \(Money.usd(c.savedUSD)); "
            + "\(Money.grouped(c.missed)) sent (no stored answer yet)"
        if c.sampled > 0 {
            s += "; \(Money.grouped(c.sampled)) sent without a lookup because their requests sample (temperature absent or above 0: "
                + "--cache-sampled reuses those too)"
        }
        return s
    }

    static func stopped(_ summary: RunSummary) -> String {
        switch summary.ending {
        case .finished where !summary.cancelledBatches.isEmpty: return "cancelled"
        case .finished: return summary.left > 0 ? "held_by_other_runner" : "finished"
        case .deadline: return "deadline"
        case .interrupted: return "interrupted"
        case .unreachable: return "provider_unreachable"
        case .storageFull: return "storage_full"
        case .databaseLost: return "database_lost"
        case .budget: return "budget"
        }
    }
}
