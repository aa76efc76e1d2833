import ChoreoBatch

/// SQL that takes a current Choreo database back to an older schema version, for the tests that
/// check an old database is migrated whole. The one place to extend when a migration is added:
/// undo it at the top, newest first.
public enum OldSchema {
    /// Back to schema version 20 (undoes 21); sets `user_version`. A live text's head goes back
    /// in front of its rest.
    public static let version20 = undo21 + "PRAGMA user_version = 20;\n"

    /// 21: long live texts' heads in a table of their own, and the `partials` view back to
    /// schema 18's.
    static let undo21 = """
        DROP VIEW partials;
        DROP VIEW live_texts;
        UPDATE live_partials SET text = (SELECT head FROM live_heads WHERE job_id = live_partials.job_id) || text
          WHERE job_id IN (SELECT job_id FROM live_heads);
        DROP TABLE live_heads;
        ALTER TABLE live_partials DROP COLUMN head_bytes;
        \(Schema.partialsView(live: "live_partials"))

        """

    /// Back to schema version 19 (undoes 20); sets `user_version`.
    public static let version19 = undo21 + undo20 + "PRAGMA user_version = 19;\n"

    /// 20: the state CHECKs spelled with `=` and `OR` go back to `IN (…)` (`RESET`: this
    /// connection parses them again, as the undo steps after it need).
    static let undo20 = """
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql,
            'CHECK (state = ''pending'' OR state = ''running'' OR state = ''succeeded'' OR state = ''failed'' OR state = ''cancelled'')',
            'CHECK (state IN (''pending'',''running'',''succeeded'',''failed'',''cancelled''))')
          WHERE type = 'table' AND name = 'jobs';
        UPDATE sqlite_schema SET sql = replace(sql,
            'CHECK (state = ''pending'' OR state = ''running'' OR state = ''completed'' OR state = ''cancelled'' OR state = ''submitting'')',
            'CHECK (state IN (''pending'',''running'',''completed'',''cancelled'',''submitting''))')
          WHERE type = 'table' AND name = 'batches';
        PRAGMA writable_schema = RESET;

        """

    /// Back to schema version 18 (undoes 19); sets `user_version`.
    public static let version18 = undo21 + undo20 + undo19 + "PRAGMA user_version = 18;\n"

    /// 19: the requests in a table of their own (the column comes back last, as 18's readers
    /// name their columns).
    static let undo19 = """
        DROP VIEW jobs_readable;
        ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '';
        UPDATE jobs SET request = (SELECT request FROM job_requests WHERE job_id = jobs.id);
        DROP TABLE job_requests;
        CREATE VIEW jobs_readable AS SELECT *,
          strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch') AS created_at_iso,
          strftime('%Y-%m-%dT%H:%M:%fZ', not_before, 'unixepoch') AS not_before_iso,
          strftime('%Y-%m-%dT%H:%M:%fZ', started_at, 'unixepoch') AS started_at_iso,
          strftime('%Y-%m-%dT%H:%M:%fZ', finished_at, 'unixepoch') AS finished_at_iso,
          strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, 'unixepoch') AS updated_at_iso,
          strftime('%Y-%m-%dT%H:%M:%fZ', lease_expires_at, 'unixepoch') AS lease_expires_at_iso
        FROM jobs;

        """

    /// Back to schema version 17 (undoes 18); sets `user_version`.
    public static let version17 = undo21 + undo20 + undo19 + undo18 + "PRAGMA user_version = 17;\n"

    /// 18: the live partials' own table and the `partials` view.
    static let undo18 = "DROP VIEW partials; DROP TABLE live_partials;\n"

    /// Back to schema version 16 (undoes 18 and 17); sets `user_version`.
    public static let version16 = undo21 + undo20 + undo19 + undo18 + undo17 + "PRAGMA user_version = 16;\n"

    /// 17: budget reservations on running jobs.
    static let undo17 = "ALTER TABLE jobs DROP COLUMN reserved_usd;\n"

    /// Back to schema version 15 (undoes 17 and 16); sets `user_version`.
    public static let version15 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + "PRAGMA user_version = 15;\n"

    /// 16: every choice's partial text.
    static let undo16 = "ALTER TABLE jobs DROP COLUMN partial_choices;\n"

    /// Back to schema version 14 (undoes 17 down to 15); sets `user_version`.
    public static let version14 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + undo15 + "PRAGMA user_version = 14;\n"

    /// 15: provider budgets shared by the runners.
    static let undo15 = "DROP TABLE provider_budgets;\n"

    // 14 (the batch-times trigger fixed) is not undone: the fixed trigger works at every older version.

    /// Back to schema version 12 (undoes 17 down to 15, and 13); sets `user_version`.
    public static let version12 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + undo15 + undo13 + "PRAGMA user_version = 12;\n"

    /// Back to schema version 11 (undoes 17 down to 12); sets `user_version`.
    public static let version11 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + undo15 + undo13 + undo12 + "PRAGMA user_version = 11;\n"

    /// 13: embeddings lines.
    static let undo13 = """
        ALTER TABLE jobs DROP COLUMN url; ALTER TABLE jobs DROP COLUMN embedding; ALTER TABLE jobs DROP COLUMN dimensions;

        """

    /// 12: kept reasoning.
    static let undo12 = "ALTER TABLE jobs DROP COLUMN partial_reasoning;\n"

    /// Back to schema version 10 (undoes 17 down to 11); sets `user_version`.
    public static let version10 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + undo15 + undo13 + undo12 + undo11 + "PRAGMA user_version = 10;\n"

    /// 11: the request cache.
    static let undo11 = """
        DROP INDEX jobs_unkeyed_answers; DROP INDEX jobs_cached; DROP INDEX jobs_by_request_key;
        DROP VIEW results;
        CREATE VIEW results AS SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
          j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms,
          j.cached_prompt_tokens, j.cache_write_tokens, j.reasoning_tokens, j.cost_usd
          FROM jobs j JOIN batches b ON b.id = j.batch_id;
        ALTER TABLE jobs DROP COLUMN request_key; ALTER TABLE jobs DROP COLUMN request_samples;
        ALTER TABLE jobs DROP COLUMN cached_from; ALTER TABLE jobs DROP COLUMN cache_saved_usd;

        """

    /// Back to schema version 9 (undoes 17 down to 10); sets `user_version`.
    public static let version9 = undo21 + undo20 + undo19 + undo18 + undo17 + undo16 + undo15 + undo13 + undo12 + undo11 + """
        -- 10: job priority and timeout (the claim index goes back to id order first: a column an index uses cannot be dropped)
        DROP INDEX jobs_runnable; CREATE INDEX jobs_runnable ON jobs(id) WHERE state = 'pending';
        ALTER TABLE jobs DROP COLUMN priority; ALTER TABLE jobs DROP COLUMN timeout_seconds;
        PRAGMA user_version = 9;
        """

    /// Back to schema version 3 (undoes 12 down to 4); sets `user_version`.
    public static let version3 = version9 + """

        -- 9: readable views
        DROP VIEW batches_readable; DROP VIEW jobs_readable; DROP VIEW attempts_readable; DROP VIEW runners_readable;
        -- 8: wire fidelity
        ALTER TABLE jobs DROP COLUMN error_body; ALTER TABLE jobs DROP COLUMN metadata; ALTER TABLE jobs DROP COLUMN reasoning;
        -- 7: timings
        ALTER TABLE attempts DROP COLUMN queue_ms; ALTER TABLE attempts DROP COLUMN headers_ms;
        ALTER TABLE attempts DROP COLUMN first_token_ms; ALTER TABLE attempts DROP COLUMN streaming_ms;
        ALTER TABLE attempts DROP COLUMN chunks; ALTER TABLE attempts DROP COLUMN gaps; ALTER TABLE attempts DROP COLUMN gap_p50_ms;
        ALTER TABLE attempts DROP COLUMN gap_p95_ms; ALTER TABLE attempts DROP COLUMN gap_max_ms;
        ALTER TABLE attempts DROP COLUMN gaps_over_1s; ALTER TABLE attempts DROP COLUMN tokens_per_s;
        ALTER TABLE jobs DROP COLUMN queue_ms; ALTER TABLE jobs DROP COLUMN headers_ms; ALTER TABLE jobs DROP COLUMN streaming_ms;
        ALTER TABLE jobs DROP COLUMN chunks; ALTER TABLE jobs DROP COLUMN gaps; ALTER TABLE jobs DROP COLUMN gap_p50_ms;
        ALTER TABLE jobs DROP COLUMN gap_p95_ms; ALTER TABLE jobs DROP COLUMN gap_max_ms; ALTER TABLE jobs DROP COLUMN gaps_over_1s;
        ALTER TABLE jobs DROP COLUMN tokens_per_s; ALTER TABLE jobs DROP COLUMN bytes_received;
        -- 6: money
        DROP TRIGGER attempts_keep_costs; DROP TABLE batch_costs; DROP VIEW results;
        CREATE VIEW results AS SELECT b.id AS batch_id, j.custom_id, j.state, j.model, j.output, j.tool_calls, j.finish_reason,
          j.prompt_tokens, j.completion_tokens, j.attempts, j.error_kind, j.error_message, j.duration_ms
          FROM jobs j JOIN batches b ON b.id = j.batch_id;
        ALTER TABLE jobs DROP COLUMN cached_prompt_tokens; ALTER TABLE jobs DROP COLUMN cache_write_tokens;
        ALTER TABLE jobs DROP COLUMN reasoning_tokens; ALTER TABLE jobs DROP COLUMN cost_usd;
        ALTER TABLE attempts DROP COLUMN prompt_tokens; ALTER TABLE attempts DROP COLUMN cached_prompt_tokens;
        ALTER TABLE attempts DROP COLUMN cache_write_tokens; ALTER TABLE attempts DROP COLUMN completion_tokens;
        ALTER TABLE attempts DROP COLUMN reasoning_tokens; ALTER TABLE attempts DROP COLUMN usage_estimated;
        ALTER TABLE attempts DROP COLUMN cost_usd; ALTER TABLE batches DROP COLUMN budget_usd;
        -- 5: continuation
        ALTER TABLE attempts DROP COLUMN continuation; ALTER TABLE attempts DROP COLUMN continuation_reason;
        DROP TABLE prefill_refusals;
        -- 4: sliced submits (the CHECK on batches.state loses 'submitting' again)
        ALTER TABLE batches DROP COLUMN submitter; ALTER TABLE batches DROP COLUMN submit_heartbeat_at;
        PRAGMA writable_schema = ON;
        UPDATE sqlite_schema SET sql = replace(sql, ',''submitting'')', ')') WHERE type = 'table' AND name = 'batches';
        PRAGMA writable_schema = OFF;
        PRAGMA user_version = 3;
        """

    /// Back to schema version 2 (undoes 12 down to 3); sets `user_version`.
    public static let version2 = version3 + """

        -- 3: batch counters
        DROP TRIGGER jobs_keep_batch_counts; DROP TABLE batch_counts;
        ALTER TABLE batches DROP COLUMN started_at; ALTER TABLE batches DROP COLUMN last_finished_at;
        PRAGMA user_version = 2;
        """
}
