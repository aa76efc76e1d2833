#!/usr/bin/env python3
"""What most users write for Claude: the official anthropic SDK, AsyncAnthropic, a semaphore, sqlite3
for the outputs — runner_openai.py's twin on the Anthropic Messages stream.
usage: runner_anthropic.py JOBS.jsonl BASE_URL DB [CONCURRENCY]
BASE_URL is what ANTHROPIC_BASE_URL would be (the SDK adds /v1/messages).
"""
import asyncio, json, sqlite3, sys
from anthropic import AsyncAnthropic

async def main(jobs_path, base_url, db_path, concurrency):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS results(custom_id TEXT PRIMARY KEY, output TEXT, finish_reason TEXT, "
               "prompt_tokens INT, completion_tokens INT, chunks INT, error TEXT)")
    jobs = [json.loads(l) for l in open(jobs_path) if l.strip()]
    client = AsyncAnthropic(base_url=base_url, api_key="dummy", max_retries=2)
    sem = asyncio.Semaphore(concurrency)
    total = 0

    async def one(job):
        nonlocal total
        async with sem:
            try:
                stream = await client.messages.create(model=job["model"], max_tokens=job.get("max_tokens", 4096),
                                                      messages=job["messages"], stream=True)
                parts, finish, prompt, completion, n = [], None, None, None, 0
                async for event in stream:
                    n += 1
                    if event.type == "content_block_delta":
                        if event.delta.type == "text_delta": parts.append(event.delta.text)
                    elif event.type == "message_start":
                        u = event.message.usage
                        prompt = u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
                    elif event.type == "message_delta":
                        finish = event.delta.stop_reason or finish
                        completion = event.usage.output_tokens
                total += n
                row = (job["custom_id"], "".join(parts), finish, prompt, completion, n, None)
            except Exception as e:
                row = (job["custom_id"], None, None, None, None, 0, repr(e))
            db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", row)
            db.commit()

    await asyncio.gather(*(one(j) for j in jobs))
    ok = db.execute("SELECT count(*) FROM results WHERE error IS NULL").fetchone()[0]
    print(json.dumps({"jobs": len(jobs), "ok": ok, "chunks": total}))

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 64))
