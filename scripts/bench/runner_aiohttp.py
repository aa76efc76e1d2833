#!/usr/bin/env python3
"""A hand-written batch runner: aiohttp + sqlite3, what a careful engineer writes instead of choreo.

Streams every job with CONCURRENCY requests in flight on one keep-alive connection pool, splits
the SSE stream into events itself, decodes each chunk's JSON, accumulates the text and stores the
final output, finish reason and usage in SQLite (one commit per 100 results).
usage: runner_aiohttp.py JOBS.jsonl BASE_URL DB [CONCURRENCY] [FORMAT]
FORMAT: openai (default; BASE_URL/chat/completions), anthropic (BASE_URL/v1/messages: text from
content_block_delta events, stop reason and usage from message_delta) or gemini
(BASE_URL/models/MODEL:streamGenerateContent?alt=sse: text from candidates[0].content.parts,
the last usageMetadata; events end with CRLF CRLF). Each format is decoded as its own SDK would
need to, no more: the peer of choreo on that wire.
"""
import asyncio, json, sqlite3, sys, aiohttp

def openai_request(base_url, job):
    return (base_url.rstrip("/") + "/chat/completions",
            {"Authorization": "Bearer dummy", "Content-Type": "application/json"},
            {"model": job["model"], "messages": job["messages"], "stream": True, "stream_options": {"include_usage": True}})

def anthropic_request(base_url, job):
    return (base_url.rstrip("/") + "/v1/messages",
            {"x-api-key": "dummy", "anthropic-version": "2023-06-01", "Content-Type": "application/json"},
            {"model": job["model"], "max_tokens": job.get("max_tokens", 4096), "messages": job["messages"], "stream": True})

def gemini_request(base_url, job):
    return (base_url.rstrip("/") + "/models/" + job["model"] + ":streamGenerateContent?alt=sse",
            {"x-goog-api-key": "dummy", "Content-Type": "application/json"},
            {"contents": [{"role": "user" if m["role"] == "user" else "model", "parts": [{"text": m["content"]}]}
                          for m in job["messages"]]})

class OpenAIState:
    def __init__(self): self.parts, self.finish, self.usage = [], None, None
    def add(self, c):
        for ch in c.get("choices") or ():
            if ch.get("index", 0) != 0: continue
            d = ch.get("delta") or {}
            t = d.get("content")
            if t: self.parts.append(t)
            if ch.get("finish_reason"): self.finish = ch["finish_reason"]
        if c.get("usage"): self.usage = c["usage"]
    def row(self):
        u = self.usage
        return "".join(self.parts), self.finish, u and u.get("prompt_tokens"), u and u.get("completion_tokens")

class AnthropicState:
    def __init__(self): self.parts, self.finish, self.prompt, self.completion = [], None, None, None
    def add(self, c):
        t = c.get("type")
        if t == "content_block_delta":
            d = c["delta"]
            if d.get("type") == "text_delta": self.parts.append(d["text"])
        elif t == "message_start":
            u = c["message"]["usage"]
            self.prompt = u["input_tokens"] + (u.get("cache_read_input_tokens") or 0) + (u.get("cache_creation_input_tokens") or 0)
        elif t == "message_delta":
            self.finish = c["delta"].get("stop_reason") or self.finish
            self.completion = c["usage"].get("output_tokens")
        elif t == "error": raise RuntimeError(c["error"])
    def row(self): return "".join(self.parts), self.finish, self.prompt, self.completion

class GeminiState:
    def __init__(self): self.parts, self.finish, self.usage = [], None, None
    def add(self, c):
        for cand in c.get("candidates") or ():
            if cand.get("index", 0) != 0: continue
            for p in (cand.get("content") or {}).get("parts") or ():
                if "text" in p and not p.get("thought"): self.parts.append(p["text"])
            if cand.get("finishReason"): self.finish = cand["finishReason"]
        if c.get("usageMetadata"): self.usage = c["usageMetadata"]
    def row(self):
        u = self.usage
        return "".join(self.parts), self.finish, u and u.get("promptTokenCount"), u and u.get("candidatesTokenCount")

FORMATS = {"openai": (openai_request, OpenAIState, b"\n\n"),
           "anthropic": (anthropic_request, AnthropicState, b"\n\n"),
           "gemini": (gemini_request, GeminiState, b"\r\n\r\n")}

async def main(jobs_path, base_url, db_path, concurrency, fmt="openai"):
    make_request, State, separator = FORMATS[fmt]
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS results(custom_id TEXT PRIMARY KEY, output TEXT, finish_reason TEXT, "
               "prompt_tokens INT, completion_tokens INT, chunks INT, error TEXT)")
    jobs = [json.loads(l) for l in open(jobs_path) if l.strip()]
    queue = asyncio.Queue()
    for j in jobs: queue.put_nowait(j)
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
        url, headers, body = make_request(base_url, job)
        state, chunks, buf = State(), 0, b""
        async with session.post(url, json=body, headers=headers) as resp:
            if resp.status != 200:
                store((job["custom_id"], None, None, None, None, 0, f"HTTP {resp.status}")); return
            async for data in resp.content.iter_any():
                buf += data
                events = buf.split(separator)
                buf = events.pop()
                for ev in events:
                    for line in ev.splitlines():
                        if not line.startswith(b"data:"): continue
                        payload = line[5:].strip()
                        if payload == b"[DONE]": continue
                        c = loads(payload)
                        if "error" in c and c["error"]: raise RuntimeError(c["error"])
                        chunks += 1
                        state.add(c)
        total_chunks += chunks
        store((job["custom_id"], *state.row(), chunks, None))

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
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 64,
                     sys.argv[5] if len(sys.argv) > 5 else "openai"))
