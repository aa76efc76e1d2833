#!/usr/bin/env bash
# Issue 12's acceptance scenario: a provider outage in the middle of a run is not a job failure.
#
# Submits JOBS jobs across OpenAI, Anthropic and Gemini (all served by one `choreo mock` process),
# runs them with default settings, stops the mock a few seconds in, starts it again on the same
# port OUTAGE seconds later, and checks that the same `run` ends with exit 0 and every text equal
# to a reference run against a mock that never went down.
#
#   scripts/outage.sh                 # 300 jobs, a 30-second outage (the issue's numbers)
#   JOBS=60 OUTAGE=5 scripts/outage.sh
#
# CHOREO: the binary to use (default: a debug build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-300}
outage=${OUTAGE:-30}
port=${PORT:-18089}
if [[ -z "${CHOREO:-}" ]]; then swift build --product choreo >&2; CHOREO=.build/debug/choreo; fi
work=$(mktemp -d)
mock_pid=""
trap '[[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null; [[ -n "${KEEP:-}" ]] && echo "kept $work" >&2 || rm -rf "$work"' EXIT

models=(gpt-4o-mini claude-sonnet-4-5 gemini-2.5-flash)
for ((i = 0; i < jobs; i++)); do
    printf '{"custom_id": "job-%05d", "model": "%s", "messages": [{"role": "user", "content": "Outage question %d"}]}\n' \
        "$i" "${models[i % 3]}" "$i"
done > "$work/jobs.jsonl"
"$CHOREO" submit "$work/jobs.jsonl" --db "$work/run.sqlite" > /dev/null
"$CHOREO" submit "$work/jobs.jsonl" --db "$work/reference.sqlite" > /dev/null

start_mock() {
    "$CHOREO" mock --port "$port" --chunk-delay-ms 40 > "$work/mock.log" 2>&1 &
    mock_pid=$!
    for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/mock/stats" > /dev/null && return; sleep 0.1; done
    echo "the mock did not start on port $port" >&2; exit 2
}
export OPENAI_BASE_URL="http://127.0.0.1:$port/v1" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" GEMINI_BASE_URL="http://127.0.0.1:$port/v1beta"

start_mock
"$CHOREO" run --db "$work/reference.sqlite" --quiet
"$CHOREO" run --db "$work/run.sqlite" 2> "$work/run.log" &
run_pid=$!
sleep 3
echo "stopping the mock for $outage s" >&2
kill "$mock_pid"; wait "$mock_pid" 2>/dev/null || true
sleep "$outage"
start_mock
echo "the mock is back" >&2
code=0
wait "$run_pid" || code=$?
grep -E "provider_unreachable|failed in this run" "$work/run.log" >&2 || true
query='SELECT custom_id, state, output FROM jobs ORDER BY custom_id'
if [[ $code -ne 0 ]]; then echo "FAIL: run exited $code (expected 0)" >&2; exit 1; fi
if ! diff <("$CHOREO" sql --db "$work/run.sqlite" "$query") <("$CHOREO" sql --db "$work/reference.sqlite" "$query") > /dev/null; then
    echo "FAIL: texts differ from the reference run" >&2; exit 1
fi
echo "OK: exit 0, all $jobs jobs succeeded with exact texts; $(wc -l < "$work/run.log") log lines" >&2
