#!/usr/bin/env python3
"""A model of the partial flushes' writes in SQLite, without choreo: how much a way of storing
each streaming job's text costs a row (BENCHMARKS.md, "Round 18").

    python3 scripts/bench/flush-model.py MODE [STREAMS] [FLUSHES] [WORDS] [REST_LIMIT]

STREAMS rows a transaction (2000), FLUSHES transactions (200), each adding WORDS short words
(~4.5 bytes each; 1) to every stream's text. WAL, synchronous = NORMAL, foreign keys on, a 4 MiB
cache, as choreo opens its database. MODE:
  update   each text rewritten whole in its narrow row (live_partials, schema 18-20)
  head     the text's head apart, rewritten once REST_LIMIT (1024) bytes past it (schema 21)
  pieces   each flush's new text appended as a row, indexed by (job, offset), placed only where
           the text so far ends (tried in round 18, not adopted)
  plain    the same rows without the check
  folded   pieces, folded into the row every 20 flushes
Prints CPU seconds (Python's own share included: compare modes, not absolute figures).
"""
import os, random, resource, sqlite3, sys, tempfile, time

mode = sys.argv[1]
streams = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
flushes = int(sys.argv[3]) if len(sys.argv) > 3 else 200
words_a_flush = int(sys.argv[4]) if len(sys.argv) > 4 else 1
rest_limit = int(sys.argv[5]) if len(sys.argv) > 5 else 1024
assert mode in ("update", "head", "pieces", "plain", "folded"), mode

folder = tempfile.mkdtemp(prefix="flush-model.")
db = sqlite3.connect(os.path.join(folder, "t.db"), isolation_level=None)
for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "cache_size = -4096"):
    db.execute("PRAGMA " + pragma)
db.executescript("""
CREATE TABLE jobs (id INTEGER PRIMARY KEY, pad TEXT);
CREATE TABLE live_partials (job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE, runner TEXT NOT NULL,
  text TEXT NOT NULL, tokens INTEGER NOT NULL, choices TEXT, updated_at REAL NOT NULL, head_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE live_heads (job_id INTEGER PRIMARY KEY REFERENCES live_partials(job_id) ON DELETE CASCADE, head TEXT NOT NULL);
CREATE TABLE pieces (job_id INTEGER NOT NULL REFERENCES live_partials(job_id) ON DELETE CASCADE, at INTEGER NOT NULL,
  text TEXT NOT NULL, tokens INTEGER NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX pieces_in_order ON pieces (job_id, at);
""")
db.execute("BEGIN")
db.executemany("INSERT INTO jobs VALUES (?, ?)", [(i, "x" * 300) for i in range(streams)])
db.executemany("INSERT INTO live_partials (job_id, runner, text, tokens, updated_at) VALUES (?, 'r1', '', 0, 0)", [(i,) for i in range(streams)])
db.execute("COMMIT")

WORDS = [" the", " a", " moon", " of", " Mars", " orbit", " and", " is", ".", " small"]
UPDATE = "UPDATE live_partials SET text = ?, tokens = ?, updated_at = ? WHERE job_id = ? AND runner = 'r1'"
texts = [b""] * streams
stored = [0] * streams  # bytes stored as a head (head) or so far (pieces)
start = time.process_time()
for f in range(flushes):
    for i in range(streams):
        texts[i] += "".join(random.choice(WORDS) for _ in range(words_a_flush)).encode()
    now = time.time()
    db.execute("BEGIN")
    if mode == "update":
        db.executemany(UPDATE, [(texts[i].decode(), f, now, i) for i in range(streams)])
    elif mode == "head":
        heads, rests = [], []
        for i in range(streams):
            if len(texts[i]) - stored[i] > rest_limit:
                stored[i] = len(texts[i])
                heads.append((i, texts[i].decode()))
            rests.append((texts[i][stored[i]:].decode(), f, now, i, stored[i]))
        if heads:
            db.executemany("INSERT OR REPLACE INTO live_heads (job_id, head) VALUES (?, ?)", heads)
            db.executemany("UPDATE live_partials SET head_bytes = ? WHERE job_id = ?", [(stored[i], i) for i, _ in heads])
        db.executemany(UPDATE + " AND head_bytes = ?", rests)
    else:
        rows = []
        for i in range(streams):
            rows.append((stored[i], texts[i][stored[i]:].decode(), f, now, i))
            stored[i] = len(texts[i])
        if mode == "plain":
            db.executemany("INSERT INTO pieces (job_id, at, text, tokens, updated_at) VALUES (?5, ?1, ?2, ?3, ?4)", rows)
        else:
            db.executemany("""
                INSERT INTO pieces (job_id, at, text, tokens, updated_at)
                SELECT l.job_id, ?1, ?2, ?3, ?4 FROM live_partials l WHERE l.job_id = ?5 AND l.runner = 'r1'
                  AND ?1 = coalesce((SELECT at + length(CAST(text AS BLOB)) FROM pieces WHERE job_id = ?5
                                     ORDER BY at DESC, rowid DESC LIMIT 1), length(CAST(l.text AS BLOB)))
                """, rows)
        if mode == "folded" and f % 20 == 19:
            db.executemany(UPDATE, [(texts[i].decode(), f, now, i) for i in range(streams)])
            db.execute("DELETE FROM pieces")
            stored = [len(t) for t in texts]  # the next pieces follow the row's text
    db.execute("COMMIT")
cpu = time.process_time() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"{mode}: {streams} streams x {flushes} flushes, answers {len(texts[0])} bytes: "
      f"{cpu:.2f} CPU s ({usage.ru_utime:.2f} user, {usage.ru_stime:.2f} sys), {cpu / streams / flushes * 1e6:.2f} us a row")
for name in os.listdir(folder):
    os.remove(os.path.join(folder, name))
os.rmdir(folder)
