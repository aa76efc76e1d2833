#!/usr/bin/env python3
"""What most users write: the official openai SDK, AsyncOpenAI, a semaphore, sqlite3 for the outputs.
usage: runner_openai.py JOBS.jsonl BASE_URL DB [CONCURRENCY]
"""
import asyncio, json, sqlite3, sys
from openai import AsyncOpenAI

async def main(jobs_path, base_url, db_path, concurrency):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS results(custom_id TEXT PRIMARY KEY, output TEXT, finish_reason TEXT, "
               "prompt_tokens INT, completion_tokens INT, chunks INT, error TEXT)")
    jobs = [json.loads(l) for l in open(jobs_path) if l.strip()]
    client = AsyncOpenAI(base_url=base_url, api_key="dummy", max_retries=2)
    sem = asyncio.Semaphore(concurrency)
    total = 0

    async def one(job):
        nonlocal total
        async with sem:
            try:
                stream = await client.chat.completions.create(model=job["model"], messages=job["messages"], stream=True,
                                                              stream_options={"include_usage": True})
                parts, finish, usage, n = [], None, None, 0
                async for chunk in stream:
                    n += 1
                    if chunk.choices:
                        c = chunk.choices[0]
                        if c.delta.content: parts.append(c.delta.content)
                        if c.finish_reason: finish = c.finish_reason
                    if chunk.usage: usage = chunk.usage
                total += n
                row = (job["custom_id"], "".join(parts), finish, usage and usage.prompt_tokens,
                       usage and usage.completion_tokens, n, None)
            except Exception as e:
                row = (job["custom_id"], None, None, None, None, 0, repr(e))
            db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", row)
            db.commit()

    await asyncio.gather(*(one(j) for j in jobs))
    ok = db.execute("SELECT count(*) FROM results WHERE error IS NULL").fetchone()[0]
    print(json.dumps({"jobs": len(jobs), "ok": ok, "chunks": total}))

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 64))
