import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation

/// One run of the batch runner as the commands present it: providers (or the embedded mock),
/// signals, progress, the summary line and the exit code.
enum RunSession {
    static func execute(databasePath: String, batch: String?, flags: RunFlags, providers: ProviderOptions) async throws -> Int32 {
        // A mistyped --db must not quietly create an empty database and report success.
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw UsageError("no database at \(databasePath): submit a batch first (choreo submit FILE), or pass --db / set CHOREO_DB")
        }
        let renderer = ProgressRenderer(format: ProgressRenderer.Format(rawValue: flags.logFormat) ?? .text, quiet: flags.quiet)
        let (router, mock) = try await providers.makeRouter()
        if let mock { renderer.record(.init(time: Date(), level: .info, message: "using the built-in mock provider at \(mock.baseURL)")) }
        let events = RunEvents(sink: { renderer.record($0) })
        let runner = BatchRunner(databasePath: databasePath, options: flags.runOptions(batch: batch), router: router, events: events)
        let task = Task { try await runner.run() }
        let trap = SignalTrap()
        trap.install(cancelling: task) { sig in
            renderer.record(.init(time: Date(), level: .warning,
                                  message: "\(sig == SIGTERM ? "SIGTERM" : "SIGINT"): stopping; in-flight jobs keep their partial output and stay retryable (interrupt again to exit at once)"))
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(renderer.interval * 1e9))
                if Task.isCancelled { break }
                renderer.progress(events.snapshot)
            }
        }
        let result = await task.result
        ticker.cancel()
        try? await mock?.shutdown()
        let summary = try result.get()
        renderer.progress(events.snapshot, final: true)
        var ending = ""
        switch summary.ending {
        case .finished: ending = summary.left > 0 ? "\(summary.left) jobs are held by another runner or waiting" : "finished"
        case .deadline: ending = "deadline reached; \(summary.left) jobs left for the next run"
        case .interrupted: ending = "interrupted; \(summary.left) jobs left (run `choreo run` again to continue)"
        case .unreachable: ending = "\(summary.left) jobs left pending, waiting for unreachable providers"
        }
        for u in summary.unreachable {
            let o = u.outage
            let why = o.neverAnswered ? "never answered in this run" : "unreachable for \(ProgressRenderer.duration(Date().timeIntervalSince(o.since)))"
            renderer.record(.init(time: Date(), level: .error, message:
                "provider \(o.provider) \(why) (\(o.cause)): \(u.jobsLeft) jobs left pending; run `choreo run` again once it answers",
                kind: "provider_unreachable"))
        }
        renderer.record(.init(time: Date(), level: summary.failed > 0 ? .warning : .info,
                              message: "\(summary.succeeded) succeeded, \(summary.failed) failed in this run: \(ending)"))
        return trap.exitCode ?? summary.exitCode
    }
}
