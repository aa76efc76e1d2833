#!/usr/bin/env bash
# The strict-reader check (issue 17): a mixed run against the built-in mock (OpenAI, Anthropic and
# Gemini lines; successes, provider errors with their HTTP status, jobs stopped by a quota;
# /v1/embeddings lines; /v1/responses lines, one cut and restarted, one calling a tool), then every
# line of its `openai` export must load with a strict model of the Batch output format, and every
# 2xx body must validate as the `openai` package's ChatCompletion, or CreateEmbeddingResponse for
# an embeddings line, or Response for a Responses line (scripts/strict-reader/check.py).
# Needs the venv scripts/setup.sh makes (.build/strict-venv, pydantic + openai from PyPI) and a
# built choreo (swift build).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=.build/strict-venv/bin/python
choreo=$(swift build --show-bin-path)/choreo
[ -x "$python" ] || { echo "strict-reader: $python missing; run scripts/setup.sh" >&2; exit 2; }
[ -x "$choreo" ] || { echo "strict-reader: $choreo missing; run swift build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  for i in $(seq 1 6); do
    echo "{\"custom_id\":\"openai-$i\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Question $i\"}],\"max_tokens\":$((i * 7))}}"
    echo "{\"custom_id\":\"claude-$i\",\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Question $i\"}],\"max_tokens\":$((i * 7))}"
    echo "{\"custom_id\":\"gemini-$i\",\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"Question $i\"}],\"metadata\":{\"n\":\"$i\"}}"
  done
  echo '{"custom_id":"openai-logprobs","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"logprobs":true,"top_logprobs":2}'
  echo '{"custom_id":"openai-server-error","model":"gpt-4o-mini","messages":[{"role":"user","content":"Boom"}],"mock":{"fault":"500","times":99}}'
  echo '{"custom_id":"claude-quota","model":"claude-haiku-4-5","messages":[{"role":"user","content":"Quota"}],"mock":{"fault":"quota"}}'
  # Embeddings lines: several sharing a request, floats and base64, an array input.
  for i in $(seq 1 4); do
    echo "{\"custom_id\":\"embed-$i\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"text-embedding-3-small\",\"input\":\"Text number $i\",\"dimensions\":8}}"
  done
  echo '{"custom_id":"embed-array","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":["alpha","beta"]}}'
  # Responses lines: text, items with instructions, a cap that ends incomplete, a tool call, a cut stream.
  for i in $(seq 1 3); do
    echo "{\"custom_id\":\"responses-$i\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"gpt-4.1-mini\",\"input\":\"Question $i\",\"max_output_tokens\":$((i * 16)),\"metadata\":{\"n\":\"$i\"}}}"
  done
  echo '{"custom_id":"responses-items","method":"POST","url":"/v1/responses","body":{"model":"gpt-5","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}],"temperature":0}}'
  echo '{"custom_id":"responses-tool","method":"POST","url":"/v1/responses","body":{"model":"gpt-4.1-mini","input":"Weather?","tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}]}}'
  echo '{"custom_id":"responses-cut","method":"POST","url":"/v1/responses","body":{"model":"gpt-4.1-mini","input":"A long story","mock":{"fault":"drop","after":3,"times":1}}}'
  echo '{"custom_id":"embed-base64","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-large","input":"packed","encoding_format":"base64","dimensions":16}}'
} > "$work/jobs.jsonl"
db="$work/strict.sqlite"
batch=$("$choreo" submit "$work/jobs.jsonl" --db "$db")
set +e
"$choreo" run --db "$db" --mock --mock-chunk-delay-ms 0 --max-attempts 2 --quiet
status=$?
set -e
# Some jobs fail on purpose (exit 1); anything else is a broken run.
[ "$status" -le 1 ] || { echo "strict-reader: choreo run exited $status" >&2; exit 1; }
"$choreo" results "$batch" --db "$db" --format openai > "$work/out.jsonl"
"$python" scripts/strict-reader/check.py "$work/out.jsonl"
