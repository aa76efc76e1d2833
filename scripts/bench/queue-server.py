#!/usr/bin/env python3
# An OpenAI-compatible streaming server that runs SLOTS requests at once and holds the rest
# without a byte until a slot frees (as Ollama does with OLLAMA_NUM_PARALLEL; with a fourth
# argument it sends the held ones their head first, as llama.cpp and vLLM do). Each answer is 10
# chunks over SECONDS. For watching `choreo run` against a server's queue (BENCHMARKS.md, "A
# request queued by its server"):
#   scripts/bench/queue-server.py 18411 4 6 &
#   OPENAI_BASE_URL=http://127.0.0.1:18411/v1 OPENAI_API_KEY=x choreo run --concurrency 32
# usage: queue-server.py PORT SLOTS SECONDS [head-first]
import asyncio, json, sys
port, slots, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
headers_first = len(sys.argv) > 4
sem = asyncio.Semaphore(slots)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
            await reader.readexactly(n)
            hdr = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            if headers_first: writer.write(hdr); await writer.drain()
            async with sem:
                if not headers_first: writer.write(hdr)
                def chunk(d, fin=None):
                    obj = {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":d,"finish_reason":fin}]}
                    s = ("data: " + json.dumps(obj) + "\n\n").encode()
                    return b"%x\r\n%s\r\n" % (len(s), s)
                writer.write(chunk({"role":"assistant","content":""}))
                for i in range(10):
                    await asyncio.sleep(seconds / 10)
                    writer.write(chunk({"content":"tok%d " % i})); await writer.drain()
                writer.write(chunk({}, "stop"))
                s = b"data: [DONE]\n\n"
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(s), s)); await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server: await server.serve_forever()
asyncio.run(main())
