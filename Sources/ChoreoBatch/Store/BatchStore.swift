import Foundation
public import ChoreoSQLite
public import ChoreoAI

/// What the commands that read and manage batches need from storage (`status`, `results`, `show`,
/// `report`, `sql`, `cancel`, `resume`): a batch's status, its jobs as export records, one job's
/// detail, its report, a user's read-only query, and the three changes a person makes to a batch
/// (cancel, reopen, requeue). `JobStore` is the runner's side of the same tables; this is the user's.
///
/// `SQLiteBatchStore` (one file) and `PostgresBatchStore` (a shared server) implement it;
/// `StoreLocation.openBatchStore` picks one from `--db`. Both give the same values for the same
/// rows, so every command prints the same on both (the CLI tests compare them byte for byte).
///
/// One owner, one thread at a time, like the connection inside it: not `Sendable`. Every call is
/// synchronous and blocks for its statements (a command does one thing, then exits).
///
/// References: `reference` arguments are what users type (a batch id, or a batch name: the
/// newest batch of that name); `id` arguments are batch ids, as `batchID(matching:)` returns
/// them. A batch still being submitted is invisible to every requirement.
public protocol BatchStore: AnyObject {
    /// Where the store is, as users may see it (a PostgreSQL URL without its password).
    var location: StoreLocation { get }

    /// The id of the batch `reference` names: an exact id, else the newest batch with that name.
    /// Throws `LookupError.noSuchBatch` when none matches.
    func batchID(matching reference: String) throws -> String

    /// The status of the batch `reference` names, as read at `now` (elapsed times are measured to it).
    func status(batch reference: String, now: Double) throws -> BatchStatus
    /// Every batch's status, newest first.
    func statuses(now: Double) throws -> [BatchStatus]

    /// Calls `body` once per job of batch `id` in input order (only jobs in `states`, when not
    /// empty), streaming: no more than a few rows are held in memory, however many jobs the batch
    /// has. Without `includingResponse`, `ExportRecord.response` (the largest column, which only
    /// the openai format writes) is not read and stays nil. Returns the number of jobs given.
    @discardableResult
    func exportRecords(batch id: String, states: [String], includingResponse: Bool,
                       _ body: (ExportRecord) throws -> Void) throws -> Int

    /// One job, by custom_id or numeric job id, within the batch `batch` names when given.
    /// Throws `LookupError.noSuchJob`, or `.ambiguousJob` when a custom_id is in several batches.
    func jobDetail(job reference: String, batch: String?) throws -> JobDetail

    /// `choreo cancel`: the batch's pending jobs become `cancelled` and the batch too, in one
    /// transaction; running jobs are left to their runners, which see the cancelled batch. A
    /// completed batch is left as it is.
    func cancelBatch(_ id: String, now: Double) throws -> CancelResult
    /// `choreo resume --cancelled`: a cancelled batch is live again and its cancelled jobs pending,
    /// each with a fresh attempt budget and the text it had received. Returns the jobs requeued.
    func reopenBatch(_ id: String, now: Double) throws -> Int
    /// `choreo resume`: the batch's failed jobs of `retryableKinds` (every failed job with `all`),
    /// its interrupted jobs and those held by dead runners go back to pending with a fresh attempt
    /// budget, in one transaction; a completed batch is live again. Returns the jobs requeued.
    func requeue(batch id: String, all: Bool, retryableKinds: [FailureKind], now: Double) throws -> Int

    /// `choreo report`: the batch `reference` names, binned into `bins` equal spans of time for
    /// its charts; `provider(model)` names each model's provider.
    func report(batch reference: String, bins: Int, provider: (String) -> String) throws -> BatchReport

    /// A read written once for both backends (`SQLDialect` spells what differs): `sql` with text
    /// parameters `$1`, `$2`… (SQLite binds them by their order of first appearance, which must be
    /// their number; PostgreSQL needs a type where one is first compared with NULL:
    /// `CAST($1 AS TEXT)`), calling `body` once per row.
    func read(_ sql: String, _ arguments: [String?], _ body: (any StoreRow) throws -> Void) throws
    var dialect: SQLDialect { get }

    /// `choreo index on|off`: builds (and keeps up to date) or drops the full-text index over job
    /// outputs. Returns how to query it, for the command's message.
    func setOutputIndex(_ on: Bool) throws -> String

    /// `choreo cache clear`: takes the answers finished before `cutoff` (nil: all) out of the
    /// request cache; their jobs and results stay. Returns how many.
    func clearCache(before cutoff: Double?) throws -> Int

    /// `choreo sql`: runs one statement the user wrote, where it can change nothing, and calls
    /// `body` once per row with the column names and the row's values, streaming. A write throws
    /// `QueryError.readOnly` and changes nothing; a statement still running after `timeLimit`
    /// seconds is stopped with `QueryError.timedOut`. Values are typed as SQLite would hold them
    /// (a PostgreSQL `bigint` or `boolean` is an integer, `double precision` a real, `bytea` a
    /// blob, any other type its text), so the two print alike.
    func query(readOnly sql: String, timeLimit: Double?, _ body: (_ columns: [String], _ values: [SQLValue]) throws -> Void) throws
}

extension BatchStore {
    public func status(batch reference: String) throws -> BatchStatus {
        try status(batch: reference, now: Date().timeIntervalSince1970)
    }
    public func statuses() throws -> [BatchStatus] { try statuses(now: Date().timeIntervalSince1970) }
    public func cancelBatch(_ id: String) throws -> CancelResult { try cancelBatch(id, now: Date().timeIntervalSince1970) }
    public func reopenBatch(_ id: String) throws -> Int { try reopenBatch(id, now: Date().timeIntervalSince1970) }
    public func requeue(batch id: String, all: Bool, retryableKinds: [FailureKind]) throws -> Int {
        try requeue(batch: id, all: all, retryableKinds: retryableKinds, now: Date().timeIntervalSince1970)
    }
}
