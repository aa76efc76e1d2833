import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one offline HTML page with a batch's charts and tables.",
        discussion: """
            Summary cards (the numbers of `status`), completions, tokens/s, streams in flight and \
            failures over time (429 pauses and outages shaded), TTFT, latency, gap and tokens/s \
            distributions per model, the slowest jobs and every failed one with its attempts. One \
            self-contained file: no network, no external file; opens from disk in any browser. \
            Two batches are drawn side by side (overlaid, with the deltas in the cards). Reads only.

            Examples:
              choreo report                              # the newest batch, to report.html
              choreo report nightly --output night.html
              choreo report batch_A batch_B              # compare two runs
            """
    )

    @Argument(help: ArgumentHelp("One or two batch ids or names (default: the newest batch).", valueName: "batch")) var batches: [String] = []
    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the page.", valueName: "path")) var output = "report.html"
    @Option(name: .long, help: ArgumentHelp("Provider configuration file, to name each model's provider.", valueName: "path")) var config: String?
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if batches.count > 2 { throw ValidationError("a report shows one batch or two, not \(batches.count)") }
    }

    func run() async throws {
        let store = try database.openStore()
        var references = batches
        if references.isEmpty {
            guard let newest = try store.statuses().first else {
                throw CleanExit.message("no batches in \(database.shownLocation); submit one with `choreo submit FILE`")
            }
            references = [newest.id]
        }
        let router = try ProviderOptions.router(config: config)
        let reports = try references.map { ref in
            try store.report(batch: ref, bins: ReportPage.timeBins) { router.provider(for: $0)?.name ?? "" }
        }
        let html = ReportPage(reports: reports).render()
        // As `results --output` writes: an error names the file and the system's reason (a
        // folder, a missing one), where Foundation's said "NSCocoaErrorDomain error 512".
        let writer = try BufferedWriter(path: output)
        try writer.write(html)
        try writer.flush()
        StandardError.print("wrote \(output) (\(html.utf8.count / 1024) KiB)")
    }
}
