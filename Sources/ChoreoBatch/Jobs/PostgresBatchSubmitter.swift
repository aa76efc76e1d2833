public import ChoreoPostgres
import ChoreoAI
import Foundation

/// Turns a JSONL job file into a batch in a PostgreSQL database: every job or none, in ONE
/// transaction. Unlike SQLite, PostgreSQL has no database-wide write lock for a long submit to
/// hold, and nobody sees the batch until it commits, so there is no hidden `submitting` state and
/// nothing a killed submit can leave behind.
///
/// Lines are validated as `BatchSubmitter` validates them (`JobLineValidator`), and inserted
/// 5,000 at a time, each slice one `INSERT … SELECT FROM unnest(…)` statement. A custom id seen
/// before is found by the unique index (`ON CONFLICT DO NOTHING`), as on SQLite.
///
/// The submit of issue 15's tests; `choreo submit --db postgres://…` is meant to use it.
public struct PostgresBatchSubmitter {
    public let url: PostgresURL
    public var options: SubmitOptions
    /// Valid lines per insert statement.
    var sliceLines = 5_000

    public init(url: PostgresURL, options: SubmitOptions = SubmitOptions()) {
        self.url = url
        self.options = options
    }

    /// Validates and stores the file at `path`. Throws `JobFileError` (nothing stored) when the file
    /// has invalid lines and `skipInvalid` is off, or when no line is valid.
    public func submit(file path: String) throws -> SubmitResult {
        let source = BatchSubmitter.absolutePath(path)
        let identity = try JobFileReader.identity(ofFile: source)
        let sha256 = try JobFileReader.sha256Hex(ofFile: source)
        let db = try PostgresConnection(url: url)
        let now = Date().timeIntervalSince1970
        try PostgresSchema.migrator.migrate(db, now: now)
        return try db.transaction {
            if !options.forceNew, let existing = try db.queryOne(
                "SELECT id, total_jobs FROM batches WHERE source_sha256 = $1 AND state <> 'submitting' ORDER BY created_at DESC LIMIT 1",
                [.init(sha256)], { row in
                    SubmitResult(batchID: row.string(0) ?? "", isExisting: true, jobCount: row.int(1) ?? 0, rejected: [],
                                 sourceFile: options.sourceName ?? source, sha256: sha256)
                }) {
                if let budget = options.budget {
                    try db.run("UPDATE batches SET budget_usd = $1 WHERE id = $2", [.init(budget), .init(existing.batchID)])
                }
                return existing
            }
            let batchID = BatchSubmitter.newBatchID()
            try db.run("""
                INSERT INTO batches (id, name, source_file, source_sha256, created_at, state, options, budget_usd)
                VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)
                """, [.init(batchID), .init(options.name), .init(options.sourceName ?? source), .init(sha256), .init(now),
                      .init(options.json.jsonString), .init(options.budget)])
            let batchPriority = options.priority ?? 0
            var reader = try JobFileReader(path: source, maxLineBytes: options.maxLineBytes)
            var errors: [JobLineError] = []
            var slice: [ValidatedJob] = []
            var inserted = 0
            var lines = 0
            var endpoints: Set<JobEndpoint> = []
            func flush() throws {
                guard !slice.isEmpty else { return }
                var stored: Set<Int> = []
                try db.query("""
                    INSERT INTO jobs (batch_id, custom_id, line, model, request, created_at, metadata, priority, timeout_seconds, url)
                    SELECT $1, s.custom_id, s.line, s.model, s.request, $6, s.metadata, s.priority, s.timeout, s.url
                    FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $7::text[], $8::bigint[], $9::float8[], $10::text[])
                         AS s(custom_id, line, model, request, metadata, priority, timeout, url)
                    ON CONFLICT (batch_id, custom_id) DO NOTHING
                    RETURNING line
                    """,
                    [.init(batchID), .init(slice.map(\.customID)), .init(slice.map(\.line)), .init(slice.map(\.model)),
                     .init(slice.map(\.requestText)), .init(now), .init(slice.map(\.metadata)),
                     .init(slice.map { $0.priority ?? batchPriority }), .init(slice.map(\.timeout)),
                     .init(slice.map(\.endpoint.rawValue))]) { stored.insert($0.int(0)!) }
                inserted += stored.count
                for job in slice where !stored.contains(job.line) {
                    let earlier = try db.queryOne("SELECT line FROM jobs WHERE batch_id = $1 AND custom_id = $2",
                                                  [.init(batchID), .init(job.customID)]) { $0.int(0) } ?? nil
                    errors.append(JobLineError(
                        line: job.line, field: "custom_id", code: "duplicate_custom_id",
                        message: "custom_id \(JSONValue.quoted(job.customID)) appears on \(earlier.map { "line \($0)" } ?? "an earlier line")"))
                }
                slice.removeAll(keepingCapacity: true)
            }
            while let item = try reader.next() {
                lines += 1
                switch item {
                case .rejected(let e): errors.append(e)
                case .line(let n, let bytes):
                    switch options.validator.validate(line: n, bytes: bytes) {
                    case .failure(let e): errors.append(e)
                    case .success(let job):
                        endpoints.insert(job.endpoint)
                        slice.append(job)
                        if slice.count == sliceLines { try flush() }
                    }
                }
            }
            try flush()
            if lines == 0 {
                throw JobFileError(path: source, errors: [JobLineError(line: 0, field: nil, code: "empty_file", message: "the file has no job lines")])
            }
            errors.sort { $0.line < $1.line }
            if inserted == 0 || (!errors.isEmpty && !options.skipInvalid) {
                throw JobFileError(path: source, errors: errors, skippedInvalid: options.skipInvalid)
            }
            guard try JobFileReader.identity(ofFile: source) == identity, reader.bytesRead == identity.size else {
                throw JobFileReadError(path: source, reason: "the file changed while it was being submitted; nothing was stored, try again")
            }
            if !errors.isEmpty {
                try db.run("""
                    INSERT INTO rejected_lines (batch_id, line, code, field, message)
                    SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
                    """, [.init(batchID), .init(errors.map(\.line)), .init(errors.map(\.code)), .init(errors.map(\.field)),
                          .init(errors.map(\.message))])
            }
            try db.run("UPDATE batches SET total_jobs = $1, rejected_lines = $2, options = $4 WHERE id = $3",
                       [.init(inserted), .init(errors.count), .init(batchID), .init(options.json(endpoints: endpoints))])
            return SubmitResult(batchID: batchID, isExisting: false, jobCount: inserted, rejected: errors, sourceFile: options.sourceName ?? source, sha256: sha256)
        }
    }
}
