import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation

struct EstimateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "Estimate what a job file, or the jobs a batch has left, would cost. Spends nothing.",
        discussion: """
            Prints low, expected and high cost per model and in total. Prompt tokens are the \
            request's JSON bytes at 4 bytes a token, or, once this database holds finished jobs of \
            the model, at the ratio those jobs reported; output is their mean output (else half of \
            max_tokens), at most max_tokens. High is what `--budget` would reserve. A model without \
            a price is `unknown`. The method is in docs/cost.md.

            Examples:
              choreo estimate jobs.jsonl
              choreo estimate batch_0123456789ab --json
            """
    )

    @Argument(help: ArgumentHelp("A job file, or a batch id or name in the database.", valueName: "file|batch")) var target: String
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions
    @Option(name: .long, help: ArgumentHelp("Provider configuration file (JSON) with prices.", discussion: "Default: $CHOREO_CONFIG, else ./choreo.json when present.", valueName: "path"))
    var config: String?

    func run() async throws {
        let router = try ProviderOptions.router(config: config)
        let prices = try ProviderOptions.priceTable(config: config)
        // A file is priced without a database; one there (SQLite or PostgreSQL) calibrates it.
        let store = StoreLocation.isPostgres(database.path) || FileManager.default.fileExists(atPath: database.path)
            ? try database.openStore() : nil
        let jobs: [CostEstimate.Job]
        if FileManager.default.fileExists(atPath: target) {
            let read = try CostEstimate.jobs(inFile: target)
            if read.invalidLines > 0 { StandardError.print("\(read.invalidLines) invalid lines left out (`choreo submit` lists them)") }
            jobs = read.jobs
        } else {
            guard let store else { throw UsageError("no file \(target), and no database at \(database.path) to find a batch in") }
            jobs = try store.jobsLeft(batch: target)
        }
        let calibration = try store?.estimateCalibration() ?? [:]
        let estimate = CostEstimate(jobs: jobs, calibration: calibration, prices: prices, kind: { router.provider(for: $0)?.kind })
        print(json ? estimate.json.jsonString : estimate.rendered(), terminator: json ? "\n" : "")
    }
}
