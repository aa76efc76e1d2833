import ChoreoAI
import Foundation
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

    public init(name: String? = nil, skipInvalid: Bool = false, forceNew: Bool = false,
                maxLineBytes: Int = JobFileReader.defaultMaxLineBytes) {
        self.name = name
        self.skipInvalid = skipInvalid
        self.forceNew = forceNew
        self.maxLineBytes = maxLineBytes
    }

    /// Stored in `batches.options`.
    var json: JSONValue {
        ["name": name.map { .string($0) } ?? .null, "skip_invalid": .bool(skipInvalid), "new": .bool(forceNew)]
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
/// returns its existing batch at once. Then ONE transaction reads, validates and inserts: the
/// batch row and all its jobs become visible together at COMMIT, or never. A submit killed at any
/// point leaves nothing behind, because SQLite discards an uncommitted transaction on the next
/// open: there is no half-inserted batch to hide or clean up. When a line is invalid (and
/// `skipInvalid` is off) inserting stops, the rest of the file is still validated so every
/// problem is reported, and the transaction is rolled back. The price of one transaction is that
/// the write lock is held while the file is read (measured: about 9 s per million short lines);
/// runners wait for it through their 10 s busy timeout.
public struct BatchSubmitter {
    public let database: Database
    public var options: SubmitOptions
    /// Called after each job row is inserted, with the count so far. Tests throw from it to
    /// simulate a submit that dies half-way.
    var afterInsert: ((Int) throws -> Void)?

    public init(database: Database, options: SubmitOptions = SubmitOptions()) {
        self.database = database
        self.options = options
    }

    /// Validates and stores the file at `path`. Throws `JobFileError` (nothing stored) when the file
    /// has invalid lines and `skipInvalid` is off, or when no line is valid.
    public func submit(file path: String) throws -> SubmitResult {
        let source = Self.absolutePath(path)
        let identity = try JobFileReader.identity(ofFile: source)
        let sha256 = try JobFileReader.sha256Hex(ofFile: source)

        // A larger page cache for the insert keeps index pages in memory instead of spilling them
        // to the WAL mid-transaction. 48 MiB is the measured knee (1,000,000 lines: 9.1 s and 91 MB
        // peak; 128 MiB bought nothing more), and it caps memory whatever the file's size.
        let previousCacheSize = try database.queryOne("PRAGMA cache_size") { $0.int(0) } ?? -2000
        try database.execute("PRAGMA cache_size = -49152")
        defer { try? database.execute("PRAGMA cache_size = \(previousCacheSize ?? -2000)") }

        return try database.transaction(.immediate) {
            if !options.forceNew, let existing = try database.queryOne(
                "SELECT id, total_jobs FROM batches WHERE source_sha256 = ? ORDER BY created_at DESC LIMIT 1", [.text(sha256)],
                { ($0.string(0) ?? "", $0.int(1) ?? 0) })
            {
                return SubmitResult(batchID: existing.0, isExisting: true, jobCount: existing.1, rejected: [], sourceFile: source, sha256: sha256)
            }
            let batchID = Self.newBatchID()
            let now = Date().timeIntervalSince1970
            // The counts are filled in at the end, in the same transaction.
            try database.run(
                "INSERT INTO batches (id, name, source_file, source_sha256, created_at, state, options) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                [.text(batchID), .init(options.name), .text(source), .text(sha256), .real(now), .text(options.json.jsonString)])

            // Not hashed again: the file's identity, checked at the end, proves it is what was hashed.
            var reader = try JobFileReader(path: source, maxLineBytes: options.maxLineBytes)
            let validator = JobLineValidator()
            var errors: [JobLineError] = []
            var inserted = 0
            var lines = 0
            while let item = try reader.next() {
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
                // transaction is rolled back then): the UNIQUE (batch_id, custom_id) index is what
                // finds duplicate custom ids, so memory does not grow with a set of every id.
                do {
                    try database.run(
                        "INSERT INTO jobs (batch_id, custom_id, line, model, request, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [.text(batchID), .text(job.customID), .init(job.line), .text(job.model), .text(job.requestText), .real(now)])
                } catch let error as SQLiteError where error.code.primary == .constraint {
                    let earlier = try database.queryOne("SELECT line FROM jobs WHERE batch_id = ? AND custom_id = ?",
                                                        [.text(batchID), .text(job.customID)]) { $0.int(0) } ?? nil
                    errors.append(JobLineError(
                        line: job.line, field: "custom_id", code: "duplicate_custom_id",
                        message: "custom_id \(JSONValue.quoted(job.customID)) appears on \(earlier.map { "line \($0)" } ?? "an earlier line")"))
                    continue
                }
                inserted += 1
                try afterInsert?(inserted)
            }
            if lines == 0 {
                throw JobFileError(path: source, errors: [JobLineError(line: 0, field: nil, code: "empty_file", message: "the file has no job lines")])
            }
            if inserted == 0 || (!errors.isEmpty && !options.skipInvalid) { throw JobFileError(path: source, errors: errors) }
            guard try JobFileReader.identity(ofFile: source) == identity, reader.bytesRead == identity.size else {
                throw JobFileReadError(path: source, reason: "the file changed while it was being submitted; nothing was stored, try again")
            }
            for e in errors {
                try database.run("INSERT INTO rejected_lines (batch_id, line, code, field, message) VALUES (?, ?, ?, ?, ?)",
                                 [.text(batchID), .init(e.line), .text(e.code), .init(e.field), .text(e.message)])
            }
            try database.run("UPDATE batches SET total_jobs = ?, rejected_lines = ? WHERE id = ?",
                             [.init(inserted), .init(errors.count), .text(batchID)])
            return SubmitResult(batchID: batchID, isExisting: false, jobCount: inserted, rejected: errors, sourceFile: source, sha256: sha256)
        }
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
