#!/usr/bin/env python3
"""A model of the writes of a job's life in SQLite, without choreo: what each statement costs a
job, and how the size of the groups changes it (BENCHMARKS.md, "Round 19").

    python3 scripts/bench/job-writes-model.py DB G [VARIANT]

DB is a database `choreo submit` made (copied, not changed). Its pending jobs go through the
writes of choreo 2e8bebb's SQLite store (schema 21), G jobs at a time, each step its own
transaction: the claim, the attempts' starts, the successes (the attempt's end with its charge,
the job's answer, its live text dropped), with the schema's triggers. The statements are the
store's as they write; the claim's read-back is narrowed to a few columns (the store's also reads
each job's request and live text). WAL, synchronous = NORMAL,
foreign keys on, as choreo opens its database. VARIANT:
  base          as choreo writes them
  nocostupdate  the job's cost added by its success UPDATE instead of by the attempt's trigger
                (one rewrite of the job's row less; the rule for an unpriced earlier attempt
                left out; tried in round 19, within the noise)
AUTOCHECKPOINT=N in the environment sets `PRAGMA wal_autocheckpoint` (SQLite's default: 1000
pages). The run ends with the checkpoint choreo makes at a run's end (TRUNCATE).
Prints the wall and CPU time a job, and each statement's (and commit's) wall time a job, Python's
own share included: compare variants and group sizes, not absolute figures.
"""
import collections, os, shutil, sqlite3, sys, tempfile, time
src, G = sys.argv[1], int(sys.argv[2]); variant = sys.argv[3] if len(sys.argv) > 3 else "base"
work = tempfile.mkdtemp()
db = os.path.join(work, "run.db")
shutil.copy(src, db)
c = sqlite3.connect(db, isolation_level=None)
for p in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "temp_store = MEMORY"): c.execute("PRAGMA " + p)
if os.environ.get("AUTOCHECKPOINT"): c.execute("PRAGMA wal_autocheckpoint = " + os.environ["AUTOCHECKPOINT"])
if variant == "nocostupdate":
    # The schema's own trigger, without its last statement (the job's cost), which the success
    # UPDATE below does instead.
    trigger = c.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'attempts_keep_costs'").fetchone()[0]
    cut = trigger.index("-- A job's cost is unknown")
    c.executescript("DROP TRIGGER attempts_keep_costs;\n" + trigger[:cut] + "END;")
runner = "runner-x"
cost = collections.Counter(); count = collections.Counter()
def run(name, sql, args=()):
    t = time.perf_counter()
    r = c.execute(sql, args).fetchall()
    cost[name] += time.perf_counter() - t; count[name] += 1
    return r
def commit(name):
    t = time.perf_counter()
    c.execute("COMMIT")
    cost[name] += time.perf_counter() - t; count[name] += 1
timings = ["queue_ms", "headers_ms", "first_token_ms", "streaming_ms", "chunks", "gaps", "gap_p50_ms", "gap_p95_ms", "gap_max_ms", "gaps_over_1s", "tokens_per_s"]
charge = ["prompt_tokens", "cached_prompt_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens", "usage_estimated", "cost_usd"]
att_end = ("UPDATE attempts SET ended_at = ?, outcome = 'succeeded', http_status = ?, bytes_received = ?, chars_received = ?, request_id = ?, "
           + ", ".join(f"{x} = ?" for x in timings) + ", " + ", ".join(f"{x} = CASE WHEN prompt_tokens IS NULL THEN ? ELSE {x} END" for x in charge)
           + " WHERE job_id = ? AND number = ?")
jt = [x for x in timings if x != "first_token_ms"]
cost_sql = "cost_usd = CASE WHEN ? IS NULL THEN NULL ELSE coalesce(cost_usd, 0) + ? END, " if variant == "nocostupdate" else ""
job_ok = ("UPDATE jobs SET " + cost_sql + "state = 'succeeded', output = ?, tool_calls = ?, finish_reason = ?, provider_finish_reason = ?, "
          "response = ?, prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, first_token_ms = ?, duration_ms = ?, "
          "http_status = ?, request_id = ?, error_kind = NULL, error_message = NULL, error_body = NULL, partial_output = NULL, "
          "partial_reasoning = NULL, partial_choices = NULL, cached_prompt_tokens = ?, cache_write_tokens = ?, reasoning_tokens = ?, "
          "partial_tokens = NULL, not_before = NULL, lease_owner = NULL, lease_expires_at = NULL, "
          "finished_at = ?, updated_at = ?, reasoning = ?, bytes_received = ?, " + ", ".join(f"{x} = ?" for x in jt) + ", "
          "request_key = coalesce(?, request_key), request_samples = coalesce(?, request_samples), embedding = ?, dimensions = ? "
          "WHERE id = ? AND lease_owner = ? AND state = 'running'")
resp = '{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"The quick brown fox","refusal":null,"role":"assistant"}}],"created":1741570283,"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","model":"gpt-4o-mini-2024-07-18","object":"chat.completion","system_fingerprint":"fp_06737a9306","usage":{"completion_tokens":4,"prompt_tokens":12,"total_tokens":16}}'
t0, cpu0 = time.perf_counter(), time.process_time()
while True:
    now = time.time()
    c.execute("BEGIN IMMEDIATE")
    ids = [r[1] for r in run("claim.select", "SELECT priority, id, request_key, request_samples FROM jobs INDEXED BY jobs_runnable WHERE state = 'pending' AND (not_before IS NULL OR not_before <= ?) AND batch_id IN (SELECT id FROM batches WHERE state IN ('pending','running')) ORDER BY priority DESC, id LIMIT ?", (now, G))]
    run("claim.expired", "SELECT priority, id FROM jobs INDEXED BY jobs_leases WHERE state = 'running' AND lease_expires_at < ? AND lease_owner IS NOT ? AND batch_id IN (SELECT id FROM batches WHERE state IN ('pending','running')) ORDER BY priority DESC, id LIMIT ?", (now, runner, G))
    if not ids:
        c.execute("COMMIT"); break
    lst = "[" + ",".join(map(str, ids)) + "]"
    run("claim.update", "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, started_at = coalesce(started_at, ?), updated_at = ? WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, batch_id, custom_id, model, attempts", (runner, now + 60, now, now, lst))
    run("claim.attempts", "UPDATE attempts SET ended_at = ?, outcome = 'interrupted' WHERE job_id IN (SELECT value FROM json_each(?)) AND ended_at IS NULL", (now, lst))
    run("claim.batches", "UPDATE batches SET state = 'running' WHERE id = (SELECT batch_id FROM jobs WHERE id = ?) AND state = 'pending'", (ids[0],))
    commit("commit.claim")
    c.execute("BEGIN IMMEDIATE")
    nums = {}
    for j in ids:
        run("start.update", "UPDATE jobs SET attempts = attempts + 1, updated_at = ? WHERE id = ? AND lease_owner = ?", (now, j, runner))
        nums[j] = run("start.select", "SELECT attempts FROM jobs WHERE id = ?", (j,))[0][0]
        run("start.insert", "INSERT INTO attempts (job_id, number, runner, started_at, continued_from_chars, continuation, continuation_reason) VALUES (?, ?, ?, ?, ?, ?, ?)", (j, nums[j], runner, now, None, None, None))
    commit("commit.start")
    c.execute("BEGIN IMMEDIATE")
    for j in ids:
        run("complete.attempt", att_end, [now, 200, 2300, 19, "req-1"] + [1.0] * 11 + [12, 0, 0, 4, 0, 0, 0.0000123] + [j, nums[j]])
        extra = [0.0000123, 0.0000123] if variant == "nocostupdate" else []
        run("complete.job", job_ok, extra + ["The quick brown fox", None, "stop", "stop", resp, 12, 4, 16, 5.0, 20.0, 200, "req-1", 0, 0, 0, now, now, None, 2300] + [1.0] * 10 + ["a" * 64, 1, None, None, j, runner])
        run("complete.live", "DELETE FROM live_partials WHERE job_id = ?", (j,))
    commit("commit.complete")
# The run's last step: everything moved into the main file (`JobQueue.checkpoint`).
run("checkpoint.end", "PRAGMA wal_checkpoint(TRUNCATE)")
total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
n = c.execute("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
print(f"variant={variant} G={G} jobs={n} total {total/n*1e6:.1f} us/job (wall), {cpu/n*1e6:.1f} us/job (CPU)")
for k, v in sorted(cost.items(), key=lambda kv: -kv[1]):
    print(f"  {k:18s} {v/n*1e6:7.1f} us/job  ({count[k]} runs)")
shutil.rmtree(work)
