import ChoreoAI
import ChoreoBatch
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing
import ChoreoSQLite

/// A scratch database with one submitted batch, and ways to run and inspect it.
struct Fixture {
    /// Holds `directory` (job file, logs and, unless elsewhere, the database) until the test lets
    /// go of the fixture, then removes it.
    let scratch: TemporaryDirectory
    let directory: URL
    let databasePath: String
    let batchID: String
    /// custom_id → (model, messages, max tokens) of every job, for the expected text (no messages:
    /// an embeddings line).
    let jobs: [(customID: String, model: String, messages: [JSONValue], maxTokens: Int?)]

    /// Writes `lines` (JSON objects in short form, or OpenAI Batch lines with a `body`) to a job
    /// file and submits it. The database is made in `databaseDirectory` when given (a small disk),
    /// else next to the job file and logs.
    init(lines: [JSONValue], databaseDirectory: URL? = nil) throws {
        scratch = TemporaryDirectory()
        directory = scratch.url
        databasePath = (databaseDirectory ?? directory).appendingPathComponent("test.sqlite").path
        let file = directory.appendingPathComponent("jobs.jsonl")
        try (lines.map(\.jsonString).joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let db = try Database(path: databasePath)
        batchID = try BatchSubmitter(database: db).submit(file: file.path).batchID
        jobs = lines.map { line in
            let body = line["body"] ?? line
            // An embeddings line has no messages.
            return (line["custom_id"]!.stringValue!, body["model"]!.stringValue!, body["messages"]?.arrayValue ?? [], body["max_tokens"]?.intValue)
        }
    }

    /// `count` short-form jobs with distinct prompts, cycling through `models`.
    init(count: Int, models: [String] = ["gpt-4o-mini"], maxTokens: Int? = nil, extra: [String: JSONValue] = [:],
         databaseDirectory: URL? = nil) throws {
        try self.init(lines: (0..<count).map { i in
            var o: [String: JSONValue] = extra
            o["custom_id"] = .string(String(format: "job-%05d", i))
            o["model"] = .string(models[i % models.count])
            o["messages"] = [["role": "user", "content": .string("Question number \(i): tell me something")]]
            if let maxTokens { o["max_tokens"] = .int(Int64(maxTokens)) }
            return .object(o)
        }, databaseDirectory: databaseDirectory)
    }

    /// The stall timeout of a run whose mock stalls some streams on purpose (its faults include
    /// `stall`): short, so that the test does not wait long for each, at the risk of taking a
    /// starved mock for a stalled one (such tests do not count requests exactly).
    static let stallFaults = 2.0

    func options(_ configure: (inout RunOptions) -> Void = { _ in }) -> RunOptions {
        var o = RunOptions()
        o.batch = batchID
        o.concurrency = 64
        o.retry = RetryPolicy(maxAttempts: 6, baseDelay: 0.01, maxDelay: 0.1)
        o.flushInterval = 0.05
        // Long enough that a starved heartbeat on a loaded machine does not lose a lease.
        o.leaseSeconds = 10
        // Long enough that the in-process mock, starved for seconds on a loaded 2-core CI machine,
        // does not look stalled: a stream taken for stalled is sent again, and many tests count the
        // requests. The tests whose mock stalls streams on purpose set it shorter (`stallFaults`).
        o.stallTimeout = 10
        configure(&o)
        return o
    }

    static func router(_ server: MockServer) -> ProviderRouter { router(at: server.baseURL) }

    /// Every provider pointed at `baseURL` (a mock's or a scripted server's).
    static func router(at baseURL: String) -> ProviderRouter {
        ProviderRouter.fromEnvironment([:]).pointed(at: baseURL)
    }

    func run(_ server: MockServer, _ configure: (inout RunOptions) -> Void = { _ in }) async throws -> RunSummary {
        try await run(at: server.baseURL, configure)
    }

    /// A run in this process with every provider at `baseURL`.
    func run(at baseURL: String, _ configure: (inout RunOptions) -> Void = { _ in }) async throws -> RunSummary {
        try await BatchRunner(databasePath: databasePath, options: options(configure), router: Self.router(at: baseURL)).run()
    }

    /// Every job's row: state, output, finish reason, attempts.
    func rows() throws -> [String: (state: String, output: String?, finish: String?, attempts: Int)] {
        let db = try Database(path: databasePath, readOnly: true)
        var out: [String: (String, String?, String?, Int)] = [:]
        try db.query("SELECT custom_id, state, output, finish_reason, attempts FROM jobs WHERE batch_id = ?", [.init(batchID)]) { r in
            out[r.string(0)!] = (r.string(1)!, r.string(2), r.string(3), r.int(4)!)
        }
        return out
    }

    func expectedText(_ customID: String) -> String {
        let j = jobs.first { $0.customID == customID }!
        return MockContent.reply(model: j.model, messages: j.messages, maxTokens: j.maxTokens).text
    }

    /// Asserts every job succeeded with exactly the mock's text.
    func expectAllExact(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rows = try rows()
        #expect(rows.count == jobs.count, sourceLocation: sourceLocation)
        var wrong: [String] = []
        for j in jobs {
            guard let r = rows[j.customID], r.state == "succeeded", r.output == expectedText(j.customID) else {
                wrong.append("\(j.customID): \(rows[j.customID].map { "\($0.state) \($0.output?.prefix(40) ?? "nil")" } ?? "missing")")
                continue
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) jobs wrong, e.g. \(wrong.prefix(3))", sourceLocation: sourceLocation)
    }

    func scalar(_ sql: String) throws -> Int {
        let db = try Database(path: databasePath, readOnly: true)
        return try db.queryOne(sql, []) { $0.int(0) ?? 0 } ?? 0
    }

    /// The trigger-kept `batch_counts` (what `status` reads) agree with the jobs themselves.
    func expectCountsMatchJobs(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fromJobs = try scalar("""
            SELECT group_concat(state || ':' || coalesce(error_kind, '') || ':' || n || ':' || p || ':' || c, ',') FROM (
              SELECT state, error_kind, count(*) AS n, coalesce(sum(prompt_tokens), 0) AS p, coalesce(sum(completion_tokens), 0) AS c
              FROM jobs WHERE state <> 'pending' GROUP BY state, coalesce(error_kind, '') ORDER BY 1, 2)
            """, text: true)
        let fromCounts = try scalar("""
            SELECT group_concat(state || ':' || error_kind || ':' || jobs || ':' || prompt_tokens || ':' || completion_tokens, ',') FROM (
              SELECT * FROM batch_counts WHERE jobs > 0 ORDER BY state, error_kind)
            """, text: true)
        #expect(fromJobs == fromCounts, sourceLocation: sourceLocation)
    }

    func scalar(_ sql: String, text: Bool) throws -> String {
        let db = try Database(path: databasePath, readOnly: true)
        return try db.queryOne(sql, []) { $0.string(0) ?? "" } ?? ""
    }

    /// The attempts `condition` picks, each as `outcome:error kind:error message`, for a failing
    /// expectation's message: what was tried, and why.
    func attemptLog(where condition: String = "1") throws -> String {
        try scalar("""
            SELECT coalesce(group_concat(coalesce(outcome, '') || ':' || coalesce(error_kind, '') || ':' || coalesce(error_message, ''), ' | '), '')
            FROM attempts WHERE \(condition)
            """, text: true)
    }

    func integrityCheck() throws -> String {
        let db = try Database(path: databasePath, readOnly: true)
        return try db.queryOne("PRAGMA integrity_check", []) { $0.string(0) ?? "" } ?? ""
    }
}

/// The built `choreo` executable, next to the test bundle.
enum ChoreoBinary {
    static var path: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("choreo").path
    }

    /// Starts `choreo` with `arguments`; stdout and stderr go to files in `directory`.
    /// `launcher` runs it through another program (`["/usr/bin/prlimit", "--fsize=N"]`); `binary`
    /// is another copy of it (one another user may run).
    static func start(_ arguments: [String], directory: URL, environment: [String: String] = [:],
                      launcher: [String] = [], binary: String = path) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: launcher.first ?? binary)
        p.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [binary] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["OPENAI_API_KEY"] = nil
        p.environment = env
        let log = directory.appendingPathComponent("choreo-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    /// Runs `choreo` with `arguments` to its end (see `wait` for the timeout) and returns what it
    /// printed. stdout and stderr go to files, so a full pipe never blocks it; `input` is its stdin
    /// (none: empty). Its environment is the test's without an OpenAI key or a configuration file
    /// (`CHOREO_CONFIG`), then `environment`.
    static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    workingDirectory: URL? = nil, timeout: Double = 120, openFilesLimit: Int? = nil) async throws -> ChoreoOutput {
        let scratch = TemporaryDirectory("choreo-run")
        let files = scratch.url
        let out = files.appendingPathComponent("stdout"), err = files.appendingPathComponent("stderr"), stdin = files.appendingPathComponent("stdin")
        for (file, content) in [(out, ""), (err, ""), (stdin, input ?? "")] {
            _ = FileManager.default.createFile(atPath: file.path, contents: Data(content.utf8))
        }
        let p = Process()
        if let openFilesLimit {
            // Soft and hard, as a shell's `ulimit -n` sets them, then the same process runs choreo.
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "ulimit -n \(openFilesLimit) && exec \"$0\" \"$@\"", path] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["OPENAI_API_KEY"] = nil
        env["CHOREO_CONFIG"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let workingDirectory { p.currentDirectoryURL = workingDirectory }
        p.standardInput = try FileHandle(forReadingFrom: stdin)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        let status = try await wait(p, timeout: timeout)
        return ChoreoOutput(status: status, stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
    }

    /// What the processes `start` ran in `directory` have printed so far (tests start one or a
    /// few per directory), one log after another.
    static func log(in directory: URL) throws -> String {
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("choreo-") && $0.hasSuffix(".log") }
        return try logs.map { try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
    }

    /// Waits until `log(in:)` holds `text` (a failure when `p` exits or 30 s pass first).
    static func waitForLog(of p: Process, in directory: URL, containing text: String) async throws {
        for _ in 0..<1500 {
            if try log(in: directory).contains(text) { return }
            if !p.isRunning { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        Issue.record("choreo never printed \"\(text)\": \(try log(in: directory).suffix(500))")
    }

    /// Waits for `p` to exit and returns its status. One that has not exited after `timeout` is a
    /// failure, recorded once; the process is then SIGKILLed (a hung runner may ignore SIGTERM) and
    /// reaped, so a test never leaves it behind.
    static func wait(_ p: Process, timeout: Double = 120) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var killed = false
        while p.isRunning {
            if !killed && Date() > deadline {
                Issue.record("choreo (pid \(p.processIdentifier)) did not exit in \(timeout) s: killed")
                kill(p.processIdentifier, SIGKILL)
                killed = true
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return p.terminationStatus
    }
}

/// What `choreo` printed, run to its end (`ChoreoBinary.run`).
struct ChoreoOutput {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Both streams, stdout first.
    var output: String { stdout + stderr }
}
