public import ChoreoAI
import Foundation
public import ChoreoSQLite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a job file is submitted.
public struct SubmitOptions: Sendable {
    /// A label shown by `status`.
    public var name: String?
    /// Accept the valid lines and record the rejected ones, instead of rejecting the whole file.
    public var skipInvalid: Bool
    /// Make a new batch even when a file with the same bytes was submitted before.
    public var forceNew: Bool
    public var maxLineBytes: Int
    /// The priority of the jobs whose line sets none (`submit --priority`; nil: 0), within
    /// `JobLineValidator.priorityRange`.
    public var priority: Int?
    /// How lines are checked: the routes that decide each line's parameters, and whether unknown
    /// parameters pass (`--allow-unknown-params`).
    public var validator = JobLineValidator()
    /// What the batch records as its source (`<stdin>` for `submit -`, whose lines were spooled
    /// to a temporary file); nil: the file's absolute path.
    public var sourceName: String?
    /// The batch's stored budget in USD (`submit --budget`, `batches.budget_usd`): written with the
    /// batch, so no runner ever sees it without; a file submitted before gets it set.
    public var budget: Double?

    public init(name: String? = nil, skipInvalid: Bool = false, forceNew: Bool = false,
                maxLineBytes: Int = JobFileReader.defaultMaxLineBytes) {
        self.name = name
        self.skipInvalid = skipInvalid
        self.forceNew = forceNew
        self.maxLineBytes = maxLineBytes
    }

    /// Stored in `batches.options`.
    var json: JSONValue {
        ["name": name.map { .string($0) } ?? .null, "skip_invalid": .bool(skipInvalid), "new": .bool(forceNew),
         "priority": priority.map { .int(Int64($0)) } ?? .null]
    }

    /// `batches.options` once the file is read: `json` with the endpoints its jobs ask for (what
    /// `status` reports as the batch's endpoint).
    func json(endpoints: Set<JobEndpoint>) -> String {
        var out = json
        out["endpoints"] = .array(endpoints.map(\.rawValue).sorted().map(JSONValue.string))
        return out.jsonString
    }
}

/// What a submit did.
public struct SubmitResult: Sendable {
    public var batchID: String
    /// True when the file's bytes were submitted before and that batch was returned instead.
    public var isExisting: Bool
    public var jobCount: Int
    /// Lines left out (only with `skipInvalid`).
    public var rejected: [JobLineError]
    public var sourceFile: String
    public var sha256: String

    /// The result for `--json`.
    public var json: JSONValue {
        ["id": .string(batchID), "existing": .bool(isExisting), "total_jobs": .int(Int64(jobCount)),
         "rejected_lines": .int(Int64(rejected.count)), "source_file": .string(sourceFile), "source_sha256": .string(sha256),
         "rejected": .array(rejected.prefix(50).map { ["line": .int(Int64($0.line)), "field": $0.field.map { .string($0) } ?? .null,
                                                      "code": .string($0.code), "message": .string($0.message)] })]
    }
}

/// Turns a JSONL job file into a batch: every job or none.
///
/// First the file's bytes are hashed (a quick read, no parsing) so that a file submitted before
/// returns its existing batch at once. Then the file is read, validated and inserted in slices of
/// `sliceLines` lines, one short transaction each, so that runners on the same database go on
/// writing between slices (one transaction for a million lines held the write lock for 9 s).
/// The batch is in the state `submitting` meanwhile: runners, `status`, `results`, `cancel` and
/// `resume` do not see it (`Schema.visible`). The last commit makes it `pending`, all at once.
///
/// A submit that fails (an invalid line, the file changed) deletes its hidden batch. One that is
/// killed leaves it behind, still hidden; the next writer (a submit or a run) deletes it once its
/// submitter is gone (`Database.removeAbandonedSubmits`). When a line is invalid (and
/// `skipInvalid` is off) the rest of the file is still validated, so every problem is reported.
public struct BatchSubmitter {
    public let database: Database
    public var options: SubmitOptions
    /// Called after each job row is inserted, with the count so far. Tests throw from it to
    /// simulate a submit that fails half-way.
    var afterInsert: ((Int) throws -> Void)?
    /// Called after each slice but the last commits, with the lines read so far (tests look at
    /// the database from another connection there).
    var afterSlice: ((Int) throws -> Void)?
    /// Lines read and inserted per transaction.
    var sliceLines = 50_000

    public init(database: Database, options: SubmitOptions = SubmitOptions()) {
        self.database = database
        self.options = options
    }

    /// Validates and stores the file at `path`. Throws `JobFileError` (nothing stored) when the file
    /// has invalid lines and `skipInvalid` is off, or when no line is valid.
    public func submit(file path: String) throws -> SubmitResult {
        if let p = options.priority, !JobLineValidator.priorityRange.contains(p) {
            let range = JobLineValidator.priorityRange
            throw SubmitOptionError(message: "priority must be from \(range.lowerBound) to \(range.upperBound), found \(p)")
        }
        let source = Self.absolutePath(path)
        let identity = try JobFileReader.identity(ofFile: source)
        let sha256 = try JobFileReader.sha256Hex(ofFile: source)

        // A larger page cache for the insert keeps index pages in memory instead of spilling them
        // to the WAL mid-transaction. 48 MiB is the measured knee (1,000,000 lines: 9.1 s and 91 MB
        // peak; 128 MiB bought nothing more), and it caps memory whatever the file's size.
        let previousCacheSize = try database.queryOne("PRAGMA cache_size") { $0.int(0) } ?? -2000
        try database.execute("PRAGMA cache_size = -49152")
        defer { try? database.execute("PRAGMA cache_size = \(previousCacheSize ?? -2000)") }

        try database.removeAbandonedSubmits()
        if let existing = try existingBatch(sha256: sha256, source: source) { return existing }
        let batchID = Self.newBatchID()
        let now = Date().timeIntervalSince1970
        let submitter = JSONValue.object(["pid": .int(Int64(getpid())), "host": .string(ProcessInfo.processInfo.hostName)]).jsonString
        // The counts are filled in by the last commit.
        try database.transaction(.immediate) {
            try database.run("""
                INSERT INTO batches (id, name, source_file, source_sha256, created_at, state, options, submitter, submit_heartbeat_at,
                                     budget_usd)
                VALUES (?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?)
                """, [.text(batchID), .init(options.name), .text(options.sourceName ?? source), .text(sha256), .real(now),
                      .text(options.json.jsonString), .text(submitter), .real(now), .init(options.budget)])
        }
        do {
            return try fill(batchID, submitter: submitter, source: source, identity: identity, sha256: sha256, now: now)
        } catch {
            // If this delete fails too, the next writer deletes the batch once this process is gone.
            try? database.deleteHiddenBatch(batchID)
            throw error
        }
    }

    /// The visible batch of a file with these bytes, unless `forceNew`.
    private func existingBatch(sha256: String, source: String) throws -> SubmitResult? {
        guard !options.forceNew else { return nil }
        let existing = try database.queryOne(
            "SELECT id, total_jobs FROM batches WHERE source_sha256 = ? AND state \(Schema.visible) ORDER BY created_at DESC LIMIT 1",
            [.text(sha256)]) { row in
            SubmitResult(batchID: row.string(0) ?? "", isExisting: true, jobCount: row.int(1) ?? 0, rejected: [], sourceFile: options.sourceName ?? source, sha256: sha256)
        }
        if let existing, let budget = options.budget { try database.setBudget(batch: existing.batchID, usd: budget) }
        return existing
    }

    /// Reads, validates and inserts the file into the hidden batch `batchID`, slice by slice; the
    /// last transaction makes the batch visible.
    private func fill(_ batchID: String, submitter: String, source: String, identity: JobFileReader.Identity, sha256: String, now: Double) throws -> SubmitResult {
        // Not hashed again: the file's identity, checked at the end, proves it is what was hashed.
        var reader = try JobFileReader(path: source, maxLineBytes: options.maxLineBytes)
        let validator = options.validator
        let batchPriority = options.priority ?? 0
        var errors: [JobLineError] = []
        var inserted = 0
        var lines = 0
        var atEnd = false
        var endpoints: Set<JobEndpoint> = []
        while !atEnd {
            try database.transaction(.immediate) {
                var read = 0
                while read < sliceLines {
                    guard let item = try reader.next() else { atEnd = true; break }
                    read += 1
                    lines += 1
                    let job: ValidatedJob
                    switch item {
                    case .rejected(let e): errors.append(e); continue
                    case .line(let n, let bytes):
                        switch validator.validate(line: n, bytes: bytes) {
                        case .failure(let e): errors.append(e); continue
                        case .success(let j): job = j
                        }
                    }
                    // Valid lines are inserted even once the file is known to be rejected (the
                    // batch is deleted then): the UNIQUE (batch_id, custom_id) index is what finds
                    // duplicate custom ids, so memory does not grow with a set of every id.
                    do {
                        try database.run(
                            """
                            INSERT INTO jobs (batch_id, custom_id, line, model, created_at, metadata, priority, timeout_seconds, url)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                            [.text(batchID), .text(job.customID), .init(job.line), .text(job.model), .real(now),
                             .init(job.metadata), .init(job.priority ?? batchPriority), .init(job.timeout), .text(job.endpoint.rawValue)])
                    } catch let error as SQLiteError where error.code.primary == .constraint {
                        let earlier = try database.queryOne("SELECT line FROM jobs WHERE batch_id = ? AND custom_id = ?",
                                                            [.text(batchID), .text(job.customID)]) { $0.int(0) } ?? nil
                        errors.append(JobLineError(
                            line: job.line, field: "custom_id", code: "duplicate_custom_id",
                            message: "custom_id \(JSONValue.quoted(job.customID)) appears on \(earlier.map { "line \($0)" } ?? "an earlier line")"))
                        continue
                    }
                    try database.run("INSERT INTO job_requests (job_id, request) VALUES (last_insert_rowid(), ?)", [.text(job.requestText)])
                    inserted += 1
                    endpoints.insert(job.endpoint)
                    try afterInsert?(inserted)
                }
                // The heartbeat that tells the next writer this submit is alive (while the batch is its own).
                try database.run("UPDATE batches SET submit_heartbeat_at = ? WHERE id = ? AND submitter = ?",
                                 [.real(Date().timeIntervalSince1970), .text(batchID), .text(submitter)])
            }
            if !atEnd { try afterSlice?(lines) }
        }
        if lines == 0 {
            throw JobFileError(path: source, errors: [JobLineError(line: 0, field: nil, code: "empty_file", message: "the file has no job lines")])
        }
        if inserted == 0 || (!errors.isEmpty && !options.skipInvalid) {
            throw JobFileError(path: source, errors: errors, skippedInvalid: options.skipInvalid)
        }
        guard try JobFileReader.identity(ofFile: source) == identity, reader.bytesRead == identity.size else {
            throw JobFileReadError(path: source, reason: "the file changed while it was being submitted; nothing was stored, try again")
        }
        let result = try database.transaction(.immediate) {
            // Another submit of the same bytes finished first: one batch per file, as before.
            if let existing = try existingBatch(sha256: sha256, source: source) { return existing }
            for e in errors {
                try database.run("INSERT INTO rejected_lines (batch_id, line, code, field, message) VALUES (?, ?, ?, ?, ?)",
                                 [.text(batchID), .init(e.line), .text(e.code), .init(e.field), .text(e.message)])
            }
            try database.run("""
                UPDATE batches SET total_jobs = ?, rejected_lines = ?, state = 'pending', submitter = NULL, submit_heartbeat_at = NULL,
                       options = ?
                WHERE id = ? AND state = 'submitting' AND submitter = ?
                """, [.init(inserted), .init(errors.count), .text(options.json(endpoints: endpoints)), .text(batchID), .text(submitter)])
            guard database.changes == 1 else {
                throw JobFileReadError(path: source, reason: "the half-submitted batch was removed as abandoned (was this process stopped for minutes?); nothing was stored, try again")
            }
            return SubmitResult(batchID: batchID, isExisting: false, jobCount: inserted, rejected: errors, sourceFile: options.sourceName ?? source, sha256: sha256)
        }
        if result.isExisting { try? database.deleteHiddenBatch(batchID) }
        return result
    }

    /// "batch_" and 12 random lowercase hex digits.
    static func newBatchID() -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = String(rng.next() & 0xFFFF_FFFF_FFFF, radix: 16)
        return "batch_" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    static func absolutePath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A submit option out of its range (the library's own check of what `choreo submit` validates).
public struct SubmitOptionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
