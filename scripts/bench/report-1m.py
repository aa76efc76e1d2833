#!/usr/bin/env python3
"""Fills a Choreo database with a finished synthetic batch of N jobs (default 1,000,000), for
timing `choreo report` (scripts/bench/report-1m.sh). The batch row comes from a real `choreo
submit` of one line; the jobs, their attempts and the counters `status` reads are written here
directly (a real run of a million jobs takes hours), with timings shaped like a real run: three
models, 4% failures of several kinds, retries, a 429 burst and an outage window.

  report-1m.py DB BATCH_ID [N]
"""
import random, sqlite3, sys

db, batch = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
rnd = random.Random(18)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode = WAL")
con.execute("PRAGMA synchronous = OFF")
con.execute("DELETE FROM jobs WHERE batch_id = ?", (batch,))
models = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.0-flash"]
kinds = ["rate_limited", "server_error", "stalled", "interrupted", "overloaded"]
t0, span = 1_780_000_000.0, 3 * 3600.0
jobs, attempts = [], []
counts = {}
for i in range(1, n + 1):
    m = models[i % 3]
    start = t0 + span * (i / n) + rnd.random()
    ttft = rnd.lognormvariate(5.5 + 0.3 * (i % 3), 0.5)
    toks = rnd.randint(20, 600)
    tps = rnd.lognormvariate(4.3, 0.3)
    dur = ttft + toks / tps * 1000
    fail = rnd.random() < 0.04
    kind = rnd.choice(kinds) if fail else None
    state = "failed" if fail else "succeeded"
    end = start + dur / 1000
    number = 1
    if rnd.random() < 0.06:  # a retried attempt first
        attempts.append((i, 1, start - 2, start - 1.5, "retry", rnd.choice(kinds), None, None, None))
        number = 2
    attempts.append((i, number, start, end, "failed" if fail else "succeeded", kind, int(ttft), toks, tps))
    jobs.append((i, batch, f"job-{i:07d}", i, m, state, number, None if fail else "x" * 20,
                 None if fail else 40, None if fail else toks, None if fail else int(ttft), int(dur), kind,
                 f"synthetic {kind}" if fail else None, t0, start, end, rnd.randint(0, 30), 80, 100 + toks * 4, toks,
                 2.0, 5.0, 9.0, 0, tps))
    key = (state, kind or "")
    c = counts.setdefault(key, [0, 0, 0])
    c[0] += 1; c[1] += 0 if fail else 40; c[2] += 0 if fail else toks
con.executemany("""INSERT INTO jobs (id, batch_id, custom_id, line, model, state, attempts, output, prompt_tokens,
    completion_tokens, first_token_ms, duration_ms, error_kind, error_message, created_at, started_at, finished_at,
    queue_ms, headers_ms, bytes_received, chunks, gap_p50_ms, gap_p95_ms, gap_max_ms, gaps_over_1s, tokens_per_s)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", jobs)
con.executemany("INSERT INTO job_requests (job_id, request) VALUES (?, '{}')", ((j[0],) for j in jobs))
con.executemany("""INSERT INTO attempts (job_id, number, started_at, ended_at, outcome, error_kind, first_token_ms, chunks, tokens_per_s)
    VALUES (?,?,?,?,?,?,?,?,?)""", attempts)
con.execute("DELETE FROM batch_counts WHERE batch_id = ?", (batch,))
con.executemany("INSERT INTO batch_counts (batch_id, state, error_kind, jobs, prompt_tokens, completion_tokens) VALUES (?,?,?,?,?,?)",
                [(batch, s, k, c[0], c[1], c[2]) for (s, k), c in counts.items()])
con.execute("UPDATE batches SET total_jobs = ?, state = 'completed', started_at = ?, last_finished_at = (SELECT max(finished_at) FROM jobs WHERE batch_id = ?), completed_at = ? WHERE id = ?",
            (n, t0, batch, t0 + span + 60, batch))
con.commit()
print(f"{n} jobs, {len(attempts)} attempts in batch {batch}")
