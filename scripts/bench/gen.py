#!/usr/bin/env python3
"""Generates benchmark inputs.

  gen.py sse K OUT [obfuscation]
                          an OpenAI chat.completion.chunk stream with K content chunks:
                          role chunk, K content chunks, finish chunk, usage chunk, [DONE];
                          with `obfuscation`, each chunk ends as api.openai.com's do, with a
                          random 1-16 character padding ("" on the finish chunk; wire-formats-2 5.3)
  gen.py anthropic K OUT   an Anthropic Messages event stream (wire-formats 6.2) with K text deltas:
                          message_start (usage with the cache fields and service_tier, wire-formats-2 4.3),
                          content_block_start, ping, K content_block_delta text_delta events,
                          content_block_stop, message_delta (stop_reason, cumulative usage), message_stop;
                          every event with its `event:` line
  gen.py gemini K OUT      a Gemini streamGenerateContent?alt=sse stream (wire-formats 7.2) of K chunks, one
                          text part each, usageMetadata on every chunk (cumulative; candidatesTokenCount
                          growing), finishReason STOP on the last, events ended by CRLF CRLF, no [DONE];
                          printed as Google's servers print JSON: `": "` after each key, no space after
                          `,` (`{"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"},...`,
                          as recorded streams show; wire-formats 7.2's constructed example is compact)
  gen.py jobs N OUT [MODEL] [MAX_TOKENS] [SYSTEM_BYTES]   N short-form job lines; with SYSTEM_BYTES,
                          each begins with a system message of that many bytes (a real prompt's size)

Every stream carries the same K words (WORDS, ~10% with escapes or non-ASCII), so the formats
differ only in their framing.
"""
import json, random, string, sys

WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
         " Caf\u00e9", " \"quoted\"", "\n", " naïve", " r\u00e9sum\u00e9", " 42", " tokens", ",", " and", " 🎵"]

def sse(k, out, obfuscation=False):
    rng = random.Random(20)
    base = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
            "system_fingerprint": "fp_06737a9306"}
    def chunk(delta, finish=None, choices=True, usage=None):
        c = dict(base)
        c["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        c["usage"] = usage
        if obfuscation and choices:
            c["obfuscation"] = "" if finish else "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, 16)))
        # OpenAI's own separators (compact) and escaping of non-ASCII as \\u (ensure_ascii) on some words
        return "data: " + json.dumps(c, separators=(",", ":"), ensure_ascii=False) + "\n\n"
    parts = [chunk({"role": "assistant", "content": "", "refusal": None})]
    for i in range(k):
        parts.append(chunk({"content": WORDS[i % len(WORDS)]}))
    parts.append(chunk({}, finish="stop"))
    parts.append(chunk(None, choices=False, usage={"prompt_tokens": 12, "completion_tokens": k, "total_tokens": 12 + k,
                                                   "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                                                   "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}))
    parts.append("data: [DONE]\n\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(parts).replace('"delta":null,', ''))

def dumps(o):
    # The providers send compact JSON with non-ASCII as UTF-8 (OpenAI escapes some as \\u; see sse)
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)

def anthropic(k, out):
    model = "claude-sonnet-4-5-20250929"
    events = [("message_start", {"type": "message_start", "message": {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": 1, "service_tier": "standard"}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"})]
    for i in range(k):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": WORDS[i % len(WORDS)]}}))
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": k}}),
               ("message_stop", {"type": "message_stop"})]
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(f"event: {name}\ndata: {dumps(data)}\n\n" for name, data in events))

def gemini(k, out):
    prompt = 12
    parts = []
    for i in range(k):
        last = i == k - 1
        cand = {"content": {"parts": [{"text": WORDS[i % len(WORDS)]}], "role": "model"}}
        if last: cand["finishReason"] = "STOP"
        cand["index"] = 0
        # Cumulative; the first chunk has no candidates count yet (as in wire-formats 7.2's example).
        usage = {"promptTokenCount": prompt}
        if i > 0: usage["candidatesTokenCount"] = i + 1
        usage["totalTokenCount"] = prompt + (i + 1 if i > 0 else 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if last: usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": k}]
        chunk = {"candidates": [cand], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
                 "responseId": "mTP0aKqaJvjEz7IP8bW2oQM"}
        parts.append("data: " + json.dumps(chunk, separators=(",", ": "), ensure_ascii=False) + "\r\n\r\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(parts))

def jobs(n, out, model="gpt-4o-mini", max_tokens=None, system_bytes=None):
    rng = random.Random(7)
    size = int(system_bytes or 0)  # 0 or absent: no system message
    system = "".join(rng.choice(WORDS[:10]) for _ in range(size)).encode()[:size].decode() if size else None
    with open(out, "w") as f:
        for i in range(n):
            messages = [{"role": "user", "content": f"Write a short poem about the number {i}."}]
            if system: messages.insert(0, {"role": "system", "content": system})
            line = {"custom_id": f"job-{i:07d}", "model": model, "messages": messages}
            if max_tokens: line["max_tokens"] = int(max_tokens)
            f.write(json.dumps(line, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "sse": sse(int(sys.argv[2]), sys.argv[3], obfuscation=sys.argv[4:5] == ["obfuscation"])
    elif sys.argv[1] == "anthropic": anthropic(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "gemini": gemini(int(sys.argv[2]), sys.argv[3])
    else: jobs(int(sys.argv[2]), sys.argv[3], *sys.argv[4:])
