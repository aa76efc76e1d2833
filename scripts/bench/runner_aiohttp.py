#!/usr/bin/env python3
"""A hand-written batch runner: aiohttp + sqlite3, what a careful engineer writes instead of choreo.

Streams every job with CONCURRENCY requests in flight on one keep-alive connection pool, splits
the SSE stream into events itself, decodes each chunk's JSON, accumulates the text and stores the
final output, finish reason and usage in SQLite (one commit per 100 results).
usage: runner_aiohttp.py JOBS.jsonl BASE_URL DB [CONCURRENCY]
"""
import asyncio, json, sqlite3, sys, aiohttp

async def main(jobs_path, base_url, db_path, concurrency):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS results(custom_id TEXT PRIMARY KEY, output TEXT, finish_reason TEXT, "
               "prompt_tokens INT, completion_tokens INT, chunks INT, error TEXT)")
    jobs = [json.loads(l) for l in open(jobs_path) if l.strip()]
    queue = asyncio.Queue()
    for j in jobs: queue.put_nowait(j)
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": "Bearer dummy", "Content-Type": "application/json"}
    pending_rows = []
    total_chunks = 0
    loads = json.loads

    def store(row):
        pending_rows.append(row)
        if len(pending_rows) >= 100: flush()

    def flush():
        db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", pending_rows)
        db.commit()
        pending_rows.clear()

    async def one(session, job):
        nonlocal total_chunks
        body = {"model": job["model"], "messages": job["messages"], "stream": True,
                "stream_options": {"include_usage": True}}
        parts, finish, usage, chunks, buf = [], None, None, 0, b""
        async with session.post(url, json=body, headers=headers) as resp:
            if resp.status != 200:
                store((job["custom_id"], None, None, None, None, 0, f"HTTP {resp.status}")); return
            async for data in resp.content.iter_any():
                buf += data
                events = buf.split(b"\n\n")
                buf = events.pop()
                for ev in events:
                    for line in ev.split(b"\n"):
                        if not line.startswith(b"data:"): continue
                        payload = line[5:].strip()
                        if payload == b"[DONE]": continue
                        c = loads(payload)
                        if "error" in c and c["error"]: raise RuntimeError(c["error"])
                        chunks += 1
                        for ch in c.get("choices") or ():
                            if ch.get("index", 0) != 0: continue
                            d = ch.get("delta") or {}
                            t = d.get("content")
                            if t: parts.append(t)
                            if ch.get("finish_reason"): finish = ch["finish_reason"]
                        if c.get("usage"): usage = c["usage"]
        total_chunks += chunks
        store((job["custom_id"], "".join(parts), finish, usage and usage.get("prompt_tokens"),
               usage and usage.get("completion_tokens"), chunks, None))

    async def worker(session):
        while not queue.empty():
            job = queue.get_nowait()
            try: await one(session, job)
            except Exception as e: store((job["custom_id"], None, None, None, None, 0, repr(e)))

    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
    flush()
    ok = db.execute("SELECT count(*) FROM results WHERE error IS NULL").fetchone()[0]
    print(json.dumps({"jobs": len(jobs), "ok": ok, "chunks": total_chunks}))

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 64))
