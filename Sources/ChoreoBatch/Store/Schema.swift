import ChoreoSQLite

/// The database schema as an ordered list of migrations. The version lives in
/// `PRAGMA user_version`; opening a writable database applies every migration newer than it, all in
/// one transaction, so a database is always at exactly one known version.
///
/// Rules for adding a migration: append, never edit a shipped one; keep table and column names
/// stable (the scheduler and users' `choreo sql` queries depend on them).
public enum Schema {
    typealias Migration = Migrator.Migration

    /// A job's request, in a query over `jobs` (schema 19 keeps it in `job_requests`; PostgreSQL
    /// has `job_requests` as a view of `jobs`, so the SQL the stores share reads it this way too).
    static let jobRequest = "(SELECT request FROM job_requests WHERE job_id = jobs.id)"

    /// A job's text so far, in a statement over `jobs` (SQLite): `column` of its live text
    /// (`live_texts`: its row of `live_partials`, schema 18, after its head in `live_heads`, schema
    /// 21) while it has one, which supersedes the job's own `fallback` column; the one spelling of
    /// that rule for the claim, an attempt's end and the exports. (PostgreSQL keeps the text in
    /// the job's row: its view `partials` reads the same.)
    static func livePartial(_ column: String, else fallback: String) -> String {
        """
        CASE WHEN EXISTS (SELECT 1 FROM live_partials WHERE job_id = jobs.id)
        THEN (SELECT \(column) FROM live_texts WHERE job_id = jobs.id) ELSE \(fallback) END
        """
    }

    static let migrations: [Migration] = [
        Migration(version: 1, sql: version1), Migration(version: 2, sql: version2), Migration(version: 3, sql: version3),
        Migration(version: 4, sql: version4),
        Migration(version: 5, sql: version5),
        Migration(version: 6, sql: version6),
        Migration(version: 7, sql: version7),
        Migration(version: 8, sql: version8),
        Migration(version: 9, sql: version9),
        Migration(version: 10, sql: jobPriorityAndTimeout),
        Migration(version: 11, sql: requestCache),
        Migration(version: 12, sql: keptReasoning),
        Migration(version: 13, sql: embeddings),
        Migration(version: 14, sql: batchTimesKeepTheirValues),
        Migration(version: 15, sql: providerBudgets),
        Migration(version: 16, sql: partialChoices),
        Migration(version: 17, sql: budgetReservations),
        Migration(version: 18, sql: livePartials),
        Migration(version: 19, sql: jobRequests),
        Migration(version: 20, sql: stateChecksCompareInPlace),
        Migration(version: 21, sql: liveHeads),
    ]

    /// Applies `migrations` when a writable connection opens, checks the version on a read-only one.
    static let migrator = Migrator(migrations)

    /// The newest schema version this build knows.
    public static var currentVersion: Int { migrations.last!.version }

    static func userVersion(_ db: Database) throws -> Int { try Migrator.userVersion(db) }

    /// Indexes shaped by measurement (BENCHMARKS.md): the runner's claim walks pending jobs in id
    /// order and stops at its limit instead of sorting every pending row; `status` reads counts,
    /// tokens, times and failure kinds from the index alone instead of scanning every job's text.
    static let version2 = """
        DROP INDEX jobs_runnable;
        CREATE INDEX jobs_runnable ON jobs(id) WHERE state = 'pending';
        DROP INDEX jobs_by_batch_state;
        CREATE INDEX jobs_by_batch_state ON jobs(batch_id, state, error_kind, prompt_tokens, completion_tokens, started_at, finished_at);
        """

    /// `status` in O(batches), not O(jobs): per-batch counters kept by a trigger (so they stay
    /// right whoever changes a job, `choreo sql` users included). Pending jobs are not counted:
    /// their number is `total_jobs` minus the rest, so a million-line submit fires no trigger.
    /// With the counters, `jobs_by_batch_state` no longer needs to cover tokens and times.
    static let version3 = """
        ALTER TABLE batches ADD COLUMN started_at REAL;
        ALTER TABLE batches ADD COLUMN last_finished_at REAL;
        CREATE TABLE batch_counts (
          batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
          state TEXT NOT NULL,
          error_kind TEXT NOT NULL DEFAULT '',
          jobs INTEGER NOT NULL DEFAULT 0,
          prompt_tokens INTEGER NOT NULL DEFAULT 0,
          completion_tokens INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (batch_id, state, error_kind)
        ) WITHOUT ROWID;
        INSERT INTO batch_counts (batch_id, state, error_kind, jobs, prompt_tokens, completion_tokens)
          SELECT batch_id, state, coalesce(error_kind, ''), count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)
          FROM jobs WHERE state <> 'pending' GROUP BY 1, 2, 3;
        UPDATE batches SET
          started_at = (SELECT min(started_at) FROM jobs WHERE jobs.batch_id = batches.id),
          last_finished_at = (SELECT max(finished_at) FROM jobs WHERE jobs.batch_id = batches.id);
        CREATE TRIGGER jobs_keep_batch_counts AFTER UPDATE OF state, error_kind, prompt_tokens, completion_tokens, started_at, finished_at ON jobs
        BEGIN
          UPDATE batch_counts SET jobs = jobs - 1, prompt_tokens = prompt_tokens - coalesce(OLD.prompt_tokens, 0),
                 completion_tokens = completion_tokens - coalesce(OLD.completion_tokens, 0)
          WHERE OLD.state <> 'pending' AND batch_id = OLD.batch_id AND state = OLD.state AND error_kind = coalesce(OLD.error_kind, '');
          INSERT INTO batch_counts (batch_id, state, error_kind, jobs, prompt_tokens, completion_tokens)
            SELECT NEW.batch_id, NEW.state, coalesce(NEW.error_kind, ''), 1, coalesce(NEW.prompt_tokens, 0), coalesce(NEW.completion_tokens, 0)
            WHERE NEW.state <> 'pending'
            ON CONFLICT (batch_id, state, error_kind) DO UPDATE SET jobs = jobs + 1,
              prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens;
          UPDATE batches SET started_at = min(coalesce(started_at, NEW.started_at), NEW.started_at),
                 last_finished_at = max(coalesce(last_finished_at, NEW.finished_at), NEW.finished_at)
          WHERE id = NEW.batch_id AND (NEW.started_at IS NOT NULL OR NEW.finished_at IS NOT NULL);
        END;
        DROP INDEX jobs_by_batch_state;
        CREATE INDEX jobs_by_batch_state ON jobs(batch_id, state);
        """

    /// Submits commit in slices (issue 12 part 3): a batch being submitted is in the state
    /// `submitting`, which every reader and the runners ignore, until its last commit makes it
    /// `pending`. Its submitter (`{"pid", "host"}`) and `submit_heartbeat_at` (renewed by each
    /// slice) tell the next writer whether it may clean up what a killed submit left.
    ///
    /// The CHECK on `batches.state` gets the new state by editing the table's SQL in place, as
    /// sqlite.org's ALTER TABLE page describes for CHECK changes that every existing row already
    /// satisfies (section 7, "writable_schema"); rebuilding the table instead would cascade-delete
    /// every job. `migrate` then moves the schema cookie so that connections reload the schema.
    static let version4 = """
        ALTER TABLE batches ADD COLUMN submitter TEXT;
        ALTER TABLE batches ADD COLUMN submit_heartbeat_at REAL;
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql, '''cancelled'')', '''cancelled'',''submitting'')')
          WHERE type = 'table' AND name = 'batches';
        PRAGMA writable_schema = OFF;
        """

    /// The batches readers see: every one but those still being submitted (`state \(visible)`).
    public static let visible = "<> 'submitting'"

    /// Continuation (issue 12.8): how each attempt of a cut job was continued and why
    /// (`prefill`, `continue_final_message` or `restart`; NULL when nothing was kept), and the
    /// models a provider told this database's runs they refuse prefill (kept across runs).
    static let version5 = """
        ALTER TABLE attempts ADD COLUMN continuation TEXT;
        ALTER TABLE attempts ADD COLUMN continuation_reason TEXT;
        CREATE TABLE prefill_refusals (model TEXT PRIMARY KEY, message TEXT NOT NULL, learned_at REAL NOT NULL);
        """

    /// Views for people and Datasette (docs/schema.md): each table's columns, and beside every
    /// time (seconds since 1970, UTC) the same time as ISO-8601 text. `*` follows columns that
    /// later migrations add.
    static let version9 = [
        readableView("batches", times: ["created_at", "started_at", "last_finished_at", "completed_at", "cancelled_at"],
                     where: "state \(visible)"),
        readableView("jobs", times: jobTimes),
        readableView("attempts", times: ["started_at", "ended_at"]),
        readableView("runners", times: ["started_at", "heartbeat_at", "stopped_at"]),
    ].joined(separator: "\n")

    /// The times of a `jobs` row, shown again as text by `jobs_readable`.
    private static let jobTimes = ["created_at", "not_before", "started_at", "finished_at", "updated_at", "lease_expires_at"]

    /// `CREATE VIEW <table>_readable`: every column of `table`, then each of `times` again as
    /// ISO-8601 text (`<column>_iso`).
    private static func readableView(_ table: String, times: [String], where filter: String? = nil) -> String {
        "CREATE VIEW \(table)_readable AS SELECT *, \(isoTimes(times)) FROM \(table)" + (filter.map { " WHERE \($0)" } ?? "") + ";"
    }

    /// Each of `times` again as ISO-8601 text (`<column>_iso`), for a readable view's select list.
    private static func isoTimes(_ times: [String]) -> String {
        times.map { "strftime('%Y-%m-%dT%H:%M:%fZ', \($0), 'unixepoch') AS \($0)_iso" }.joined(separator: ", ")
    }

    /// Timings (issue 18, docs/schema-timings.md): per attempt and, for the attempt that
    /// finished it, per job (so `choreo report` reads one row per job). Written with the rows the
    /// runner writes anyway: no row per chunk, no extra statement.
    static let version7 = """
        ALTER TABLE attempts ADD COLUMN queue_ms INTEGER;
        ALTER TABLE attempts ADD COLUMN headers_ms INTEGER;
        ALTER TABLE attempts ADD COLUMN first_token_ms INTEGER;
        ALTER TABLE attempts ADD COLUMN streaming_ms INTEGER;
        ALTER TABLE attempts ADD COLUMN chunks INTEGER;
        ALTER TABLE attempts ADD COLUMN gaps INTEGER;
        ALTER TABLE attempts ADD COLUMN gap_p50_ms REAL;
        ALTER TABLE attempts ADD COLUMN gap_p95_ms REAL;
        ALTER TABLE attempts ADD COLUMN gap_max_ms REAL;
        ALTER TABLE attempts ADD COLUMN gaps_over_1s INTEGER;
        ALTER TABLE attempts ADD COLUMN tokens_per_s REAL;
        ALTER TABLE jobs ADD COLUMN queue_ms INTEGER;
        ALTER TABLE jobs ADD COLUMN headers_ms INTEGER;
        ALTER TABLE jobs ADD COLUMN streaming_ms INTEGER;
        ALTER TABLE jobs ADD COLUMN chunks INTEGER;
        ALTER TABLE jobs ADD COLUMN bytes_received INTEGER;
        ALTER TABLE jobs ADD COLUMN gaps INTEGER;
        ALTER TABLE jobs ADD COLUMN gap_p50_ms REAL;
        ALTER TABLE jobs ADD COLUMN gap_p95_ms REAL;
        ALTER TABLE jobs ADD COLUMN gap_max_ms REAL;
        ALTER TABLE jobs ADD COLUMN gaps_over_1s INTEGER;
        ALTER TABLE jobs ADD COLUMN tokens_per_s REAL;
        """

    /// Money (issue 16): what each attempt was billed (usage details, whether they are an
    /// estimate, its cost in USD: NULL when the model has no price), a job's cost over all its
    /// attempts, a batch's stored budget, and `batch_costs`: cost and tokens per batch and model,
    /// kept by a trigger when an attempt's usage is written, so `status` and a budget's "spent so
    /// far" read O(models) rows. The `results` view gains the cost and the usage details.
    static let version6 = """
        ALTER TABLE jobs ADD COLUMN cached_prompt_tokens INTEGER;
        ALTER TABLE jobs ADD COLUMN cache_write_tokens INTEGER;
        ALTER TABLE jobs ADD COLUMN reasoning_tokens INTEGER;
        ALTER TABLE jobs ADD COLUMN cost_usd REAL;
        ALTER TABLE attempts ADD COLUMN prompt_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN cached_prompt_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN cache_write_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN completion_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN reasoning_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN usage_estimated INTEGER;
        ALTER TABLE attempts ADD COLUMN cost_usd REAL;
        ALTER TABLE batches ADD COLUMN budget_usd REAL;
        CREATE TABLE batch_costs (
          batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
          model TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          unpriced_attempts INTEGER NOT NULL DEFAULT 0,
          estimated_attempts INTEGER NOT NULL DEFAULT 0,
          cost_usd REAL NOT NULL DEFAULT 0,
          prompt_tokens INTEGER NOT NULL DEFAULT 0,
          cached_prompt_tokens INTEGER NOT NULL DEFAULT 0,
          cache_write_tokens INTEGER NOT NULL DEFAULT 0,
          completion_tokens INTEGER NOT NULL DEFAULT 0,
          reasoning_tokens INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (batch_id, model)
        ) WITHOUT ROWID;
        CREATE TRIGGER attempts_keep_costs AFTER UPDATE OF prompt_tokens ON attempts
        WHEN OLD.prompt_tokens IS NULL AND NEW.prompt_tokens IS NOT NULL
        BEGIN
          INSERT INTO batch_costs (batch_id, model, attempts, unpriced_attempts, estimated_attempts, cost_usd, prompt_tokens,
                                   cached_prompt_tokens, cache_write_tokens, completion_tokens, reasoning_tokens)
            SELECT j.batch_id, j.model, 1, NEW.cost_usd IS NULL, coalesce(NEW.usage_estimated, 0), coalesce(NEW.cost_usd, 0),
                   NEW.prompt_tokens, coalesce(NEW.cached_prompt_tokens, 0), coalesce(NEW.cache_write_tokens, 0),
                   coalesce(NEW.completion_tokens, 0), coalesce(NEW.reasoning_tokens, 0)
            FROM jobs j WHERE j.id = NEW.job_id
            ON CONFLICT (batch_id, model) DO UPDATE SET attempts = attempts + 1,
              unpriced_attempts = unpriced_attempts + excluded.unpriced_attempts,
              estimated_attempts = estimated_attempts + excluded.estimated_attempts,
              cost_usd = cost_usd + excluded.cost_usd, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
              cached_prompt_tokens = cached_prompt_tokens + excluded.cached_prompt_tokens,
              cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
              completion_tokens = completion_tokens + excluded.completion_tokens,
              reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens;
          -- A job's cost is unknown (NULL) once one of its attempts had no price.
          UPDATE jobs SET cost_usd = CASE
              WHEN NEW.cost_usd IS NULL THEN NULL
              WHEN cost_usd IS NULL AND EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = NEW.job_id AND a.number <> NEW.number
                                                 AND a.prompt_tokens IS NOT NULL) THEN NULL
              ELSE coalesce(cost_usd, 0) + NEW.cost_usd END
          WHERE id = NEW.job_id;
        END;
        DROP VIEW results;
        CREATE VIEW results AS
          SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
                 j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms,
                 j.cached_prompt_tokens, j.cache_write_tokens, j.reasoning_tokens, j.cost_usd
          FROM jobs j JOIN batches b ON b.id = j.batch_id;
        """

    /// Wire fidelity (issue 17): what the provider said, kept apart from Choreo's classification.
    /// `error_body` is the provider's own error object of the last HTTP failure
    /// (`{"error":{message,type,param,code}}`, the Batch API's `response.body`); `metadata` is
    /// the job's `metadata` object as submitted (JSON text), exported with the results;
    /// `reasoning` the model's reasoning (`reasoning_content`, thinking), never mixed into `output`.
    static let version8 = """
        ALTER TABLE jobs ADD COLUMN error_body TEXT;
        ALTER TABLE jobs ADD COLUMN metadata TEXT;
        ALTER TABLE jobs ADD COLUMN reasoning TEXT;
        """

    /// The request cache (issue 16, docs/cost.md): a job's `request_key` (`RequestKey`: the
    /// SHA-256 of its body as the answer depends on it, and the endpoint; written when it
    /// succeeds, and by a run with `--cache` for the jobs it may run or reuse; `cleared` once
    /// `choreo cache clear` took its answer out of the cache), whether the request samples
    /// (`request_samples`: temperature absent or above 0), and for a job answered from the cache,
    /// where the answer came from (`cached_from`, `<batch>/<custom_id>`, prefixed by the cache
    /// file when it came from a shared one) and what that answer had cost (`cache_saved_usd`).
    /// `jobs_unkeyed_answers` holds the answers finished before this version (every later success
    /// writes its key): the first cached run keys them without reading every finished job.
    static let requestCache = """
        ALTER TABLE jobs ADD COLUMN request_key TEXT;
        ALTER TABLE jobs ADD COLUMN request_samples INTEGER;
        ALTER TABLE jobs ADD COLUMN cached_from TEXT;
        ALTER TABLE jobs ADD COLUMN cache_saved_usd REAL;
        CREATE INDEX jobs_by_request_key ON jobs(request_key) WHERE request_key IS NOT NULL;
        CREATE INDEX jobs_cached ON jobs(batch_id) WHERE cached_from IS NOT NULL;
        CREATE INDEX jobs_unkeyed_answers ON jobs(id) WHERE state = 'succeeded' AND request_key IS NULL;
        DROP VIEW results;
        CREATE VIEW results AS
          SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
                 j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms,
                 j.cached_prompt_tokens, j.cache_write_tokens, j.reasoning_tokens, j.cost_usd, j.cached_from
          FROM jobs j JOIN batches b ON b.id = j.batch_id;
        """

    /// The reasoning that came before a cut answer's kept text (`partial_reasoning`), written when
    /// the attempt ends (not by the partial flushes): the continued answer's `reasoning` begins
    /// with it, since it was paid for and the continuation does not reason again.
    static let keptReasoning = """
        ALTER TABLE jobs ADD COLUMN partial_reasoning TEXT;
        """

    /// The trigger keeping `batches.started_at` and `last_finished_at` lost them: SQLite's scalar
    /// `min(x, NULL)` is NULL, so a job claimed (started, not finished) wiped the batch's last
    /// finish, and a job cancelled before it started (finished, not started) wiped its start. The
    /// trigger again, taking each time only from a job that has it, and both times recomputed.
    static let batchTimesKeepTheirValues = """
        DROP TRIGGER jobs_keep_batch_counts;
        CREATE TRIGGER jobs_keep_batch_counts AFTER UPDATE OF state, error_kind, prompt_tokens, completion_tokens, started_at, finished_at ON jobs
        BEGIN
          UPDATE batch_counts SET jobs = jobs - 1, prompt_tokens = prompt_tokens - coalesce(OLD.prompt_tokens, 0),
                 completion_tokens = completion_tokens - coalesce(OLD.completion_tokens, 0)
          WHERE OLD.state <> 'pending' AND batch_id = OLD.batch_id AND state = OLD.state AND error_kind = coalesce(OLD.error_kind, '');
          INSERT INTO batch_counts (batch_id, state, error_kind, jobs, prompt_tokens, completion_tokens)
            SELECT NEW.batch_id, NEW.state, coalesce(NEW.error_kind, ''), 1, coalesce(NEW.prompt_tokens, 0), coalesce(NEW.completion_tokens, 0)
            WHERE NEW.state <> 'pending'
            ON CONFLICT (batch_id, state, error_kind) DO UPDATE SET jobs = jobs + 1,
              prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens;
          UPDATE batches SET
                 started_at = CASE WHEN NEW.started_at IS NULL THEN started_at
                                   ELSE min(coalesce(started_at, NEW.started_at), NEW.started_at) END,
                 last_finished_at = CASE WHEN NEW.finished_at IS NULL THEN last_finished_at
                                         ELSE max(coalesce(last_finished_at, NEW.finished_at), NEW.finished_at) END
          WHERE id = NEW.batch_id AND (NEW.started_at IS NOT NULL OR NEW.finished_at IS NOT NULL);
        END;
        UPDATE batches SET
          started_at = (SELECT min(started_at) FROM jobs WHERE jobs.batch_id = batches.id),
          last_finished_at = (SELECT max(finished_at) FROM jobs WHERE jobs.batch_id = batches.id);
        """

    /// Every choice's text of a running or cut answer of several choices (`n > 1`), a JSON array
    /// in index order, beside `partial_output` (choice 0's, which a continuation would build on):
    /// written by the same partial flushes and attempt ends (`PartialText.choices`).
    static let partialChoices = """
        ALTER TABLE jobs ADD COLUMN partial_choices TEXT;
        """

    /// The text of the jobs still streaming, in a narrow table of its own (issue 20): the partial
    /// flushes write here, many times a second with thousands of streams, instead of rewriting the
    /// whole `jobs` record (~53 columns, the request among them) to change three. A row is the
    /// text of its job's running (or dead runner's) attempt as of the last flush and, while it
    /// exists, supersedes the job's `partial_output`, `partial_tokens` and `partial_choices`: an
    /// attempt's end moves it there (or drops it with them), success and a resume drop it, and the
    /// claim, the exports and `show` read it first. The view `partials` reads each job's text so
    /// far whichever place holds it (the same view on PostgreSQL, which has no such table).
    /// `runner` is the lease holder that writes the row (a claim of an expired lease, or the
    /// claiming runner's first flush, makes it that runner's), so a flush is an `UPDATE` of the
    /// live row alone, without reading the job's lease.
    static let livePartials = """
        CREATE TABLE live_partials (
          job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
          runner TEXT NOT NULL,
          text TEXT NOT NULL,
          tokens INTEGER NOT NULL,
          choices TEXT,
          updated_at REAL NOT NULL
        );
        \(partialsView(live: "live_partials"))
        """

    /// The view `partials`: each job's text so far, from `live` (the job's live text while it has
    /// one: the table `live_partials` in schema 18, the view `live_texts` from schema 21) or else
    /// its own columns. Also what `OldSchema` puts back when it undoes schema 21.
    package static func partialsView(live: String) -> String {
        """
        CREATE VIEW partials AS
          SELECT j.id AS job_id, j.batch_id, j.custom_id, j.state,
                 CASE WHEN l.job_id IS NULL THEN j.partial_output ELSE l.text END AS partial_output,
                 CASE WHEN l.job_id IS NULL THEN j.partial_tokens ELSE l.tokens END AS partial_tokens,
                 CASE WHEN l.job_id IS NULL THEN j.partial_choices ELSE l.choices END AS partial_choices,
                 CASE WHEN l.job_id IS NULL THEN j.updated_at ELSE l.updated_at END AS updated_at
          FROM jobs j LEFT JOIN \(live) l ON l.job_id = j.id;
        """
    }

    /// A long live text in two rows (issue 20): its head, written now and then, in `live_heads`,
    /// and the rest in its `live_partials` row, which the flushes rewrite. SQLite rewrites a record
    /// whole, overflow pages too, so a 4,000-token answer's flushes wrote its ~16 KB every time;
    /// now the flushes rewrite at most ~1 KB after the head, and the head is written again once
    /// that much more has come. `live_partials.head_bytes` is the head's length in UTF-8 bytes (0:
    /// no head row), which a flush that counts on the head checks. The view `live_texts` reads
    /// head and rest as one text (what `live_partials.text` held before), and `partials` reads
    /// through it.
    static let liveHeads = """
        ALTER TABLE live_partials ADD COLUMN head_bytes INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE live_heads (
          job_id INTEGER PRIMARY KEY REFERENCES live_partials(job_id) ON DELETE CASCADE,
          head TEXT NOT NULL
        );
        CREATE VIEW live_texts AS
          SELECT l.job_id, l.runner,
                 coalesce((SELECT head FROM live_heads WHERE job_id = l.job_id), '') || l.text AS text,
                 l.tokens, l.choices, l.updated_at
          FROM live_partials l;
        DROP VIEW partials;
        \(partialsView(live: "live_texts"))
        """

    /// Each job's request body in a table of its own (issue 20), written once by `submit` and read
    /// by the claim, where it was the widest column of `jobs`: a 5 KB prompt spans overflow pages,
    /// and SQLite rewrites a record whole, overflow pages too, on every `UPDATE` that changes its
    /// size (the claim, an attempt's start and end, the answer). `jobs_readable` shows it beside
    /// the job's columns, as before. (PostgreSQL keeps it in `jobs`, where TOAST already leaves a
    /// long value in place on an `UPDATE` of other columns, and reads `job_requests` as a view.)
    static let jobRequests = """
        CREATE TABLE job_requests (
          job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
          request TEXT NOT NULL
        );
        INSERT INTO job_requests (job_id, request) SELECT id, request FROM jobs;
        DROP VIEW jobs_readable;
        ALTER TABLE jobs DROP COLUMN request;
        CREATE VIEW jobs_readable AS
          SELECT jobs.*, job_requests.request,
                 \(isoTimes(jobTimes))
          FROM jobs LEFT JOIN job_requests ON job_requests.job_id = jobs.id;
        """

    /// The CHECKs on `jobs.state` and `batches.state`, the same rules spelled with `=` and `OR`
    /// (issue 20). SQLite 3.40 evaluates `state IN ('pending', …)` through an ephemeral table it
    /// builds again for every row a statement writes (a B-tree opened, a page zeroed: ~3 µs), and
    /// every claim and every end of a job writes `jobs.state`; compared in place, the CHECK costs
    /// what a comparison costs. Edited in place as version 4 edited the batches' CHECK (every row
    /// satisfies both spellings); `migrate` moves the schema cookie for other connections, and
    /// `writable_schema = RESET` makes this one parse the edited text at once: with `OFF` it kept
    /// the old CHECK, and an `ALTER TABLE … ADD COLUMN` later in the same transaction would place
    /// its column by offsets into the old text.
    static let stateChecksCompareInPlace = """
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql,
            'CHECK (state IN (''pending'',''running'',''succeeded'',''failed'',''cancelled''))',
            'CHECK (state = ''pending'' OR state = ''running'' OR state = ''succeeded'' OR state = ''failed'' OR state = ''cancelled'')')
          WHERE type = 'table' AND name = 'jobs';
        UPDATE sqlite_schema SET sql = replace(sql,
            'CHECK (state IN (''pending'',''running'',''completed'',''cancelled'',''submitting''))',
            'CHECK (state = ''pending'' OR state = ''running'' OR state = ''completed'' OR state = ''cancelled'' OR state = ''submitting'')')
          WHERE type = 'table' AND name = 'batches';
        PRAGMA writable_schema = RESET;
        """

    /// A batch's stored budget shared by every runner (`BatchBudgets`): the worst case reserved
    /// for a running job's attempt, counted while the job is `running`.
    static let budgetReservations = """
        ALTER TABLE jobs ADD COLUMN reserved_usd REAL;
        """

    /// Provider limits shared by the runners of one database (issue 15, `ProviderBudgets`): per
    /// provider (`name@host`), its request and token buckets as of `refilled_at` (NULL: full), and
    /// the pauses every runner heeds: a 429's (`rate_limited_until`) and an outage's, while one
    /// runner probes the provider (`unreachable_until`).
    static let providerBudgets = """
        CREATE TABLE provider_budgets (
          provider TEXT PRIMARY KEY,
          requests REAL,
          tokens REAL,
          refilled_at REAL NOT NULL,
          rate_limited_until REAL NOT NULL DEFAULT 0,
          unreachable_until REAL NOT NULL DEFAULT 0
        );
        """

    static let version1 = """
        CREATE TABLE batches (
          id TEXT PRIMARY KEY,
          name TEXT,
          source_file TEXT,
          source_sha256 TEXT,
          created_at REAL NOT NULL,
          state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','running','completed','cancelled')),
          options TEXT NOT NULL DEFAULT '{}',
          total_jobs INTEGER NOT NULL DEFAULT 0,
          rejected_lines INTEGER NOT NULL DEFAULT 0,
          completed_at REAL,
          cancelled_at REAL
        );
        CREATE INDEX batches_by_sha256 ON batches(source_sha256);
        CREATE TABLE jobs (
          id INTEGER PRIMARY KEY,
          batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
          custom_id TEXT NOT NULL,
          line INTEGER NOT NULL,
          model TEXT NOT NULL,
          request TEXT NOT NULL,
          state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','running','succeeded','failed','cancelled')),
          attempts INTEGER NOT NULL DEFAULT 0,
          attempt_base INTEGER NOT NULL DEFAULT 0,
          not_before REAL,
          lease_owner TEXT,
          lease_expires_at REAL,
          partial_output TEXT,
          partial_tokens INTEGER,              -- added: completion tokens spent on partial_output (scheduler)
          spent_prompt_tokens INTEGER,         -- added: prompt tokens of earlier, continued segments (scheduler)
          output TEXT,
          tool_calls TEXT,
          finish_reason TEXT,
          provider_finish_reason TEXT,
          response TEXT,
          prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
          first_token_ms INTEGER,
          duration_ms INTEGER,
          http_status INTEGER,
          request_id TEXT,
          error_kind TEXT,
          error_message TEXT,
          created_at REAL NOT NULL, started_at REAL, finished_at REAL, updated_at REAL,
          UNIQUE (batch_id, custom_id)
        );
        CREATE INDEX jobs_by_batch_state ON jobs(batch_id, state);
        CREATE INDEX jobs_runnable ON jobs(state, not_before) WHERE state = 'pending';
        CREATE INDEX jobs_leases ON jobs(lease_expires_at) WHERE state = 'running';
        CREATE TABLE attempts (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
          number INTEGER NOT NULL,
          runner TEXT,
          started_at REAL NOT NULL, ended_at REAL,
          outcome TEXT,
          http_status INTEGER, error_kind TEXT, error_message TEXT,
          bytes_received INTEGER NOT NULL DEFAULT 0, chars_received INTEGER NOT NULL DEFAULT 0,
          received_text TEXT,                  -- what a failed or interrupted attempt received (kept for the history)
          continued_from_chars INTEGER,
          request_id TEXT,
          UNIQUE (job_id, number)
        );
        CREATE TABLE rejected_lines (
          batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
          line INTEGER NOT NULL, code TEXT NOT NULL, field TEXT, message TEXT NOT NULL
        );
        CREATE INDEX rejected_lines_by_batch ON rejected_lines(batch_id, line);
        CREATE TABLE runners (id TEXT PRIMARY KEY, pid INTEGER, host TEXT, started_at REAL, heartbeat_at REAL, stopped_at REAL);
        CREATE VIEW results AS
          SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
                 j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms
          FROM jobs j JOIN batches b ON b.id = j.batch_id;
        CREATE VIEW batch_summary AS
          SELECT b.id AS batch_id, b.name, b.state, b.created_at, b.total_jobs, b.rejected_lines,
                 count(j.id) AS jobs,
                 coalesce(sum(j.state = 'pending'), 0) AS pending,
                 coalesce(sum(j.state = 'running'), 0) AS running,
                 coalesce(sum(j.state = 'succeeded'), 0) AS succeeded,
                 coalesce(sum(j.state = 'failed'), 0) AS failed,
                 coalesce(sum(j.state = 'cancelled'), 0) AS cancelled,
                 coalesce(sum(j.prompt_tokens), 0) AS prompt_tokens,
                 coalesce(sum(j.completion_tokens), 0) AS completion_tokens,
                 min(j.started_at) AS started_at, max(j.finished_at) AS finished_at,
                 b.completed_at, b.cancelled_at
          FROM batches b LEFT JOIN jobs j ON j.batch_id = b.id
          GROUP BY b.id;
        """

    /// A job's priority and its own attempt timeout (issue 17). `priority` decides the claim
    /// order: higher first, then oldest (`id`) among equals; `jobs_runnable` is rebuilt in that
    /// order, so a claim still walks the index and stops at its limit instead of sorting every
    /// pending job. `timeout_seconds` bounds each attempt's whole time (NULL: the provider's).
    static let jobPriorityAndTimeout = """
        ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN timeout_seconds REAL;
        DROP INDEX jobs_runnable;
        CREATE INDEX jobs_runnable ON jobs(priority DESC, id) WHERE state = 'pending';
        """

    /// Embeddings lines (issue 17): every job's Batch `url` (the endpoint it asks for; the jobs
    /// stored before are chat completions), and an embeddings job's answer: its vectors as packed
    /// little-endian float32, one after another in input order (`embedding`, never JSON text:
    /// 4 bytes a value), and the values per vector (`dimensions`).
    static let embeddings = """
        ALTER TABLE jobs ADD COLUMN url TEXT NOT NULL DEFAULT '/v1/chat/completions';
        ALTER TABLE jobs ADD COLUMN embedding BLOB;
        ALTER TABLE jobs ADD COLUMN dimensions INTEGER;
        """
}
