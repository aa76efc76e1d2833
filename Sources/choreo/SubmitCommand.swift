import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation
import ChoreoSQLite

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Validate a JSONL job file and store it as a batch.",
        discussion: """
            Each line is one chat completion request, either in OpenAI Batch API format
              {"custom_id":"q1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[...]}}
            or in short form, the body itself with an optional custom_id:
              {"custom_id":"q1","model":"gpt-4o-mini","messages":[...],"max_tokens":100}
            A Batch API line may ask for embeddings instead (OpenAI-compatible and Gemini models):
              {"custom_id":"e1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"text","dimensions":256}}
            or for OpenAI's Responses API (OpenAI-compatible models; streamed and stored like chat):
              {"custom_id":"r1","method":"POST","url":"/v1/responses","body":{"model":"gpt-4.1-mini","input":"text","max_output_tokens":100}}

            A Batch API line may also set its job's priority and timeout beside custom_id and body:
              {"custom_id":"q1","body":{...},"priority":10,"timeout":120}
            priority: an integer from -1000000 to 1000000 (default 0, or --priority for the lines \
            without one). Runners take higher priorities first, across batches, and the oldest job \
            first among equal ones.
            timeout: seconds each attempt may take in all, connecting and the whole stream (at most \
            86400; default: the provider's "timeout" in choreo.json, or run --timeout). One that runs \
            over ends as attempt_timeout and is retried with the text it received, like a stall.
            The short form cannot carry them: its top-level fields are request parameters (a server's \
            own priority goes in extra_body).

            The whole file is checked first. If any line is invalid, nothing is stored and every \
            problem is listed on stderr (line, field, code) with exit status 1; --skip-invalid stores \
            the valid lines and records the others. Submitting the same bytes again prints the existing \
            batch id unless --new is given. stdout carries only the batch id (or JSON with --json).

            Examples:
              choreo submit jobs/example-batch.jsonl
              choreo submit prompts.jsonl --name nightly --db /data/choreo.sqlite
              choreo submit urgent.jsonl --priority 10   # run before lower priorities
              BATCH=$(choreo submit prompts.jsonl --skip-invalid)
              choreo run --batch "$BATCH"
              choreo submit prompts.jsonl --run --concurrency 128   # submit, run it

            With --run the exit status is run's (0 all succeeded, 1 some failed, 3 work left, 130/143/129 interrupted).
            """
    )

    @Argument(help: ArgumentHelp("The JSONL job file; - reads it from stdin.", valueName: "file")) var file: String
    @Option(name: .long, help: "A label for the batch, shown by status.") var name: String?
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @Flag(name: .long, help: "Store the valid lines and record the invalid ones instead of rejecting the file.") var skipInvalid = false
    @Flag(name: .customLong("new"), help: "Make a new batch even if this file was submitted before.") var forceNew = false
    @Option(name: .long, help: ArgumentHelp("The priority of the jobs whose line sets none (default 0): higher priorities are run first, across batches.", valueName: "n"))
    var priority: Int?
    @Flag(name: .customLong("allow-unknown-params"), help: "Let body parameters unknown to a line's provider through (parameters it cannot take are still refused; extra_body passes new ones per line).")
    var allowUnknownParams = false
    @Flag(name: .customLong("run"), help: "Run the batch right after submitting it (takes every `choreo run` option).") var runAfterSubmit = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup(title: "Run options (with --run)") var flags: RunFlags
    @OptionGroup(title: "Providers (with --run)") var providers: ProviderOptions

    func validate() throws {
        let range = JobLineValidator.priorityRange
        if let priority, !range.contains(priority) {
            throw ValidationError("--priority must be from \(range.lowerBound) to \(range.upperBound)")
        }
    }

    func run() async throws {
        var options = SubmitOptions(name: name, skipInvalid: skipInvalid, forceNew: forceNew)
        options.priority = priority
        options.budget = flags.budget
        // Lines are checked against the provider each routes to: the configuration's routes.
        options.validator = JobLineValidator(router: try ProviderOptions.router(config: providers.config),
                                             allowUnknownParams: allowUnknownParams)
        // A job file that cannot be read leaves no database behind (a typo in its name made an
        // empty choreo.sqlite).
        if file != "-" { try JobFileReader.checkReadable(file) }
        let result: SubmitResult
        do {
            if file == "-" { options.sourceName = "<stdin>" }
            if case .postgres(let url) = try StoreLocation(database.path) {
                let submitter = PostgresBatchSubmitter(url: url, options: options)
                result = try Self.reading(file) { try submitter.submit(file: $0) }
            } else {
                let db = try database.open(creating: true)
                let submitter = BatchSubmitter(database: db, options: options)
                result = try Self.reading(file) { try submitter.submit(file: $0) }
                try db.checkpoint()
            }
        } catch var error as JobFileError {
            if file == "-" { error.path = "<stdin>" }
            StandardError.print(error.report())
            throw ExitCode(ExitCodes.failure)
        }
        if json {
            print(result.json.jsonString)
        } else {
            print(result.batchID)
        }
        if result.isExisting {
            StandardError.print("this file was already submitted as \(result.batchID) (\(result.jobCount) jobs); use --new for another batch"
                + (priority == nil ? "" : " (--priority applies to the jobs of a new batch only)"))
        } else {
            StandardError.print("submitted \(result.jobCount) jobs as \(result.batchID)")
            if !result.rejected.isEmpty {
                StandardError.print("skipped \(result.rejected.count) invalid lines (see the rejected_lines table):\n"
                    + JobFileError(path: result.sourceFile, errors: result.rejected).listing())
            }
        }
        if runAfterSubmit {
            let code = try await RunSession.execute(databasePath: database.path, batch: result.batchID, flags: flags, providers: providers)
            if code != 0 { throw ExitCode(code) }
        }
    }

    /// Submits `file` with `submit`; `-` is standard input, copied to a private temporary file
    /// first (a submitter hashes the file, reads it in slices and checks it did not change), which
    /// is removed afterwards. (The batch records `<stdin>` as its source: `SubmitOptions.sourceName`.)
    static func reading(_ file: String, _ submit: (String) throws -> SubmitResult) throws -> SubmitResult {
        guard file == "-" else { return try submit(file) }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("choreo-stdin-\(UUID().uuidString).jsonl")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot create a temporary file for stdin in \(temporary.deletingLastPathComponent().path)")
        }
        defer { try? FileManager.default.removeItem(at: temporary) }
        let out = try FileHandle(forWritingTo: temporary)
        while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
        try out.close()
        return try submit(temporary.path)
    }

    /// Stores the batch's budget, and makes the main file alone hold the batch (see RELIABILITY.md, Backups).
}
