#!/usr/bin/env python3
"""Generates benchmark inputs.

  gen.py sse K OUT [obfuscation]
                          an OpenAI chat.completion.chunk stream with K content chunks:
                          role chunk, K content chunks, finish chunk, usage chunk, [DONE];
                          with `obfuscation`, each chunk ends as api.openai.com's do, with a
                          random 1-16 character padding ("" on the finish chunk; wire-formats-2 5.3)
  gen.py jobs N OUT [MODEL] [MAX_TOKENS]   N short-form job lines
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

def jobs(n, out, model="gpt-4o-mini", max_tokens=None):
    with open(out, "w") as f:
        for i in range(n):
            line = {"custom_id": f"job-{i:07d}", "model": model,
                    "messages": [{"role": "user", "content": f"Write a short poem about the number {i}."}]}
            if max_tokens: line["max_tokens"] = int(max_tokens)
            f.write(json.dumps(line, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "sse": sse(int(sys.argv[2]), sys.argv[3], obfuscation=sys.argv[4:5] == ["obfuscation"])
    else: jobs(int(sys.argv[2]), sys.argv[3], *sys.argv[4:])
