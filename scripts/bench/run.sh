#!/usr/bin/env bash
# Choreo benchmarks, side by side with the alternatives, in one run. See BENCHMARKS.md.
#   scripts/bench/run.sh [--quick] [--only firehose|tls|slow|slow-h2|flush|prompts|bigfiles]   (tls: tls.sh; slow-h2: slow-h2.sh; flush: flush.sh; prompts: prompts.sh)
# Env: REPS (default 3, --quick 1), JOBS (2000), SDK_JOBS_2048 (250: the openai SDK needs ~7 min
# per 2,000 jobs at K=2048), SDK (1; 0 skips the SDKs), SLOW_N ("1000 5000 10000"), BIG_N (1000000), CHOREO_BIN (skip the build), KEEP (1 keeps the work folder),
# CASES (firehose streams, default "256 256o 256a 256g 2048": K, then o = OpenAI with obfuscation,
# a = Anthropic's event stream, g = Gemini's streamGenerateContent; no letter = plain OpenAI).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH=$ROOT/scripts/bench
QUICK=0; ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: $0 [--quick] [--only firehose|tls|slow|slow-h2|flush|prompts|bigfiles]" >&2; exit 2 ;;
  esac
  shift
done
if [ $QUICK = 1 ]; then
  REPS=${REPS:-1}; JOBS=${JOBS:-500}; SDK_JOBS_2048=${SDK_JOBS_2048:-50}; SLOW_N=${SLOW_N:-"1000"}; BIG_N=${BIG_N:-100000}
else
  REPS=${REPS:-3}; JOBS=${JOBS:-2000}; SDK_JOBS_2048=${SDK_JOBS_2048:-250}; SLOW_N=${SLOW_N:-"1000 5000 10000"}; BIG_N=${BIG_N:-1000000}
fi
PORT=${PORT:-18080}; MOCK_PORT=${MOCK_PORT:-18089}

for tool in nginx python3 gcc sqlite3 curl; do command -v $tool >/dev/null || { echo "needs $tool (apt-get install nginx sqlite3 gcc curl libcurl4-openssl-dev)" >&2; exit 2; }; done
python3 -c 'import aiohttp, openai, anthropic' 2>/dev/null || { echo "needs: pip install aiohttp openai anthropic" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

if [ -z "${CHOREO_BIN:-}" ]; then
  swift build -c release --static-swift-stdlib --scratch-path .build-bench --product choreo >&2
  CHOREO_BIN=$ROOT/.build-bench/release/choreo
fi
W=$(mktemp -d /tmp/choreo-bench.XXXXXX)
RAW=$W/raw.tsv; : > "$RAW"
gcc -O2 -Wall -o "$W/slowclient" "$BENCH/slowclient.c" -lcurl
ulimit -n "$(ulimit -Hn)"

NGINX_PID=""; MOCK_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

# chunks_per_stream BASE [curl options...]: the data events of one stream of the mock at BASE
# (BASE/chat/completions), [DONE] not counted: what each job of the mock's sections receives.
chunks_per_stream() {
  local base=$1; shift
  curl -sS "$@" "$base/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 0."}],"stream":true,"stream_options":{"include_usage":true}}' | grep -c '^data: {'
}

# measure SECTION CASE CLIENT REP CHUNKS NOTE -- command...   (GNU time: wall, user, sys, max RSS of the child tree)
measure() {
  local sec=$1 case=$2 client=$3 rep=$4 chunks=$5 note=$6; shift 7
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" > "$W/out" 2> "$W/err" || { echo "FAILED: $client $case" >&2; tail -5 "$W/err" >&2; }
  read -r wall user sys rss < <(tail -1 "$W/time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sec" "$case" "$client" "$rep" "$wall" "$user" "$sys" "$rss" "$chunks" "$note" >> "$RAW"
  printf '%-9s %-12s %-16s wall %6ss cpu %6ss rss %7sKB  %s\n' "$sec" "$case" "$client" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$rss" "$(head -c 200 "$W/out" | tr '\n' ' ')" >&2
}

machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); memory: $(free -g | awk '/Mem:/{print $2}') GiB; kernel: $(uname -r)"
  echo "libcurl: $(curl --version | head -1 | cut -d' ' -f2-3); nginx: $(nginx -v 2>&1 | cut -d/ -f2); python: $(python3 -V | cut -d' ' -f2); aiohttp $(python3 -c 'import aiohttp; print(aiohttp.__version__)'); openai $(python3 -c 'import openai; print(openai.__version__)'); anthropic $(python3 -c 'import anthropic; print(anthropic.__version__)')"
  echo "choreo: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+local changes')"
}
machine | tee "$W/machine.txt" >&2

# ---------------------------------------------------------------- firehose
if [ -z "$ONLY" ] || [ "$ONLY" = firehose ]; then
  N=$W/nginx; mkdir -p "$N/tmp" "$N/www"
  # Each case is one pre-generated stream under /kCASE/, at the path its format's client asks for.
  #   256o: the K=256 stream as api.openai.com sends it, every chunk with an `obfuscation` padding.
  #   256a: Anthropic's event stream (ANTHROPIC_BASE_URL + /v1/messages).
  #   256g: Gemini's (GEMINI_BASE_URL + /models/MODEL:streamGenerateContent?alt=sse; nginx ignores the query).
  # All carry the same K words. Chunks counts the events a stream has: K+3 for OpenAI (role, K
  # content, finish, usage; [DONE] not counted), K+6 for Anthropic (message_start,
  # content_block_start, ping, K deltas, content_block_stop, message_delta, message_stop), K for Gemini.
  CASES=${CASES:-"256 256o 256a 256g 2048"}
  GEMINI_MODEL=gemini-2.5-flash; CLAUDE_MODEL=claude-sonnet-4-5
  for C in $CASES; do
    K=${C%[oag]}
    case $C in
      *a) mkdir -p "$N/www/k$C/v1"; python3 "$BENCH/gen.py" anthropic "$K" "$N/www/k$C/v1/messages" ;;
      *g) mkdir -p "$N/www/k$C/v1beta/models"; python3 "$BENCH/gen.py" gemini "$K" "$N/www/k$C/v1beta/models/$GEMINI_MODEL:streamGenerateContent" ;;
      *) mkdir -p "$N/www/k$C/v1/chat"; python3 "$BENCH/gen.py" sse "$K" "$N/www/k$C/v1/chat/completions" $([ "$C" = "${K}o" ] && echo obfuscation) ;;
    esac
  done
  sed -e "s#@PREFIX@#$N#g" -e "s#@PORT@#$PORT#g" "$BENCH/nginx.conf.in" > "$N/nginx.conf"
  nginx -p "$N" -c "$N/nginx.conf"; sleep 0.3; NGINX_PID=$(cat "$N/nginx.pid")
  python3 "$BENCH/gen.py" jobs "$JOBS" "$W/jobs.jsonl"
  python3 "$BENCH/gen.py" jobs "$JOBS" "$W/jobs-anthropic.jsonl" "$CLAUDE_MODEL"
  python3 "$BENCH/gen.py" jobs "$JOBS" "$W/jobs-gemini.jsonl" "$GEMINI_MODEL"
  echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}' > "$W/body-openai.json"
  echo '{"model":"'$CLAUDE_MODEL'","max_tokens":4096,"messages":[{"role":"user","content":"hi"}],"stream":true}' > "$W/body-anthropic.json"
  echo '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > "$W/body-gemini.json"
  for C in $CASES; do
    K=${C%[oag]}
    case $C in
      *a) FMT=anthropic; BASE=http://127.0.0.1:$PORT/k$C; URL=$BASE/v1/messages; PER=$((K + 6)); LABEL="K=$K anthropic"
          JOBF=$W/jobs-anthropic.jsonl; CHOREO_ENV="ANTHROPIC_BASE_URL=$BASE ANTHROPIC_API_KEY=dummy" ;;
      *g) FMT=gemini; BASE=http://127.0.0.1:$PORT/k$C/v1beta; URL="$BASE/models/$GEMINI_MODEL:streamGenerateContent?alt=sse"; PER=$K
          LABEL="K=$K gemini"; JOBF=$W/jobs-gemini.jsonl; CHOREO_ENV="GEMINI_BASE_URL=$BASE GEMINI_API_KEY=dummy" ;;
      *) FMT=openai; BASE=http://127.0.0.1:$PORT/k$C/v1; URL=$BASE/chat/completions; PER=$((K + 3)); LABEL="K=$K"
         [ "$C" = "${K}o" ] && LABEL="K=$K+obf"
         JOBF=$W/jobs.jsonl; CHOREO_ENV="OPENAI_BASE_URL=$BASE OPENAI_API_KEY=dummy" ;;
    esac
    (for i in $(seq "$JOBS"); do echo "url = \"$URL\""; echo 'output = "/dev/null"'; done) > "$W/curl.cfg"
    for rep in $(seq "$REPS"); do
      measure firehose "$LABEL" curl $rep $((JOBS * PER)) "" -- curl -sS --parallel --parallel-max 64 -H 'Content-Type: application/json' -d @"$W/body-$FMT.json" -K "$W/curl.cfg"
      rm -f "$W"/a.db*
      measure firehose "$LABEL" aiohttp+sqlite3 $rep $((JOBS * PER)) "" -- python3 "$BENCH/runner_aiohttp.py" "$JOBF" "$BASE" "$W/a.db" 64 $FMT
      rm -f "$W"/c.db*
      measure firehose "$LABEL" choreo $rep $((JOBS * PER)) "submit+run" -- env $CHOREO_ENV \
        sh -c "'$CHOREO_BIN' submit '$JOBF' --db '$W/c.db' >/dev/null && '$CHOREO_BIN' run --db '$W/c.db' --concurrency 64"
      ok=$(sqlite3 "$W/c.db" "SELECT count(*) FROM jobs WHERE state='succeeded' AND length(output) > 0")
      [ "$ok" = "$JOBS" ] || echo "choreo: only $ok of $JOBS jobs succeeded" >&2
    done
    # The SDK peers: openai on the plain OpenAI stream, anthropic on Anthropic's; once at K=256
    # (they take minutes), on fewer jobs at K=2048.
    SDKJ=$JOBS; SDKF=$JOBF; SDKREPS=$REPS; NOTE=""
    if [ $K = 2048 ]; then SDKJ=$SDK_JOBS_2048; SDKF=$W/jobs-sdk.jsonl; head -n "$SDKJ" "$JOBF" > "$SDKF"; SDKREPS=1; NOTE="$SDKJ jobs"; fi
    [ $K = 256 ] && [ $QUICK = 0 ] && SDKREPS=1
    [ "${SDK:-1}" = 0 ] && SDKREPS=0
    case $C in
      *a) SDKNAME=anthropic-sdk+sqlite3; SDKRUNNER=runner_anthropic.py ;;
      *o|*g) SDKREPS=0 ;;   # the openai SDK's figure is the plain stream's
      *) SDKNAME=openai-sdk+sqlite3; SDKRUNNER=runner_openai.py ;;
    esac
    for rep in $(seq "$SDKREPS"); do
      rm -f "$W"/o.db*
      measure firehose "$LABEL" $SDKNAME $rep $((SDKJ * PER)) "$NOTE" -- python3 "$BENCH/$SDKRUNNER" "$SDKF" "$BASE" "$W/o.db" 64
    done
  done
  kill "$NGINX_PID"; NGINX_PID=""
fi

# ---------------------------------------------------------------- TLS and HTTP/2
if [ -z "$ONLY" ] || [ "$ONLY" = tls ]; then . "$BENCH/tls.sh"; fi
if [ -z "$ONLY" ] || [ "$ONLY" = slow-h2 ]; then . "$BENCH/slow-h2.sh"; fi
if [ -z "$ONLY" ] || [ "$ONLY" = flush ]; then . "$BENCH/flush.sh"; fi
if [ -z "$ONLY" ] || [ "$ONLY" = prompts ]; then . "$BENCH/prompts.sh"; fi

# ---------------------------------------------------------------- many slow streams
if [ -z "$ONLY" ] || [ "$ONLY" = slow ]; then
  "$CHOREO_BIN" mock --port "$MOCK_PORT" --chunk-delay-ms 100 --tokens 200 > "$W/mock.log" 2>&1 & MOCK_PID=$!
  sleep 1
  URL=http://127.0.0.1:$MOCK_PORT/v1/chat/completions
  PER=$(chunks_per_stream "http://127.0.0.1:$MOCK_PORT/v1")
  echo "mock: $PER chunks per stream" >&2
  for S in $SLOW_N; do
    python3 "$BENCH/gen.py" jobs "$S" "$W/slow.jsonl"
    measure slow "streams=$S" "C libcurl multi" 1 $((S * PER)) "" -- "$W/slowclient" "$URL" "$S" \
      '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 0."}],"stream":true,"stream_options":{"include_usage":true}}'
    rm -f "$W"/s.db*
    "$CHOREO_BIN" submit "$W/slow.jsonl" --db "$W/s.db" > /dev/null
    measure slow "streams=$S" choreo 1 $((S * PER)) "run only" -- env OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" OPENAI_API_KEY=dummy \
      "$CHOREO_BIN" run --db "$W/s.db" --concurrency "$S"
    ok=$(sqlite3 "$W/s.db" "SELECT count(*) FROM jobs WHERE state='succeeded'")
    echo "choreo: $ok of $S streams succeeded" >&2
    [ "$ok" = "$S" ] || sed -i '$ s/run only$/run only; ONLY '"$ok"' succeeded/' "$RAW"
  done
  kill "$MOCK_PID"; MOCK_PID=""
fi

# ---------------------------------------------------------------- big files
if [ -z "$ONLY" ] || [ "$ONLY" = bigfiles ]; then
  python3 "$BENCH/gen.py" jobs "$BIG_N" "$W/big.jsonl" gpt-4o-mini 256
  for rep in $(seq "$REPS"); do
    rm -f "$W"/big.db*
    measure bigfiles "submit $BIG_N lines" "" $rep 0 "$(du -h "$W/big.jsonl" | cut -f1)" -- "$CHOREO_BIN" submit "$W/big.jsonl" --db "$W/big.db"
  done
  # Finish every job with SQL (sqlite3 shell): what `complete` writes, a 40-token reply and its response JSON.
  sqlite3 "$W/big.db" <<'SQL'
UPDATE jobs SET state = 'succeeded', attempts = 1,
  output = 'The number ' || id || ' is a fine number; here is a short poem about it, in forty tokens or so.',
  finish_reason = 'stop', prompt_tokens = 18, completion_tokens = 40, total_tokens = 58, first_token_ms = 120, duration_ms = 900,
  http_status = 200, started_at = created_at, finished_at = created_at + 1, updated_at = created_at + 1,
  response = '{"id":"chatcmpl-' || id || '","object":"chat.completion","created":1741570283,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"The number ' || id || ' is a fine number; here is a short poem about it, in forty tokens or so."},"finish_reason":"stop"}],"usage":{"prompt_tokens":18,"completion_tokens":40,"total_tokens":58}}';
INSERT INTO attempts(job_id, number, runner, started_at, ended_at, outcome, http_status, bytes_received, chars_received)
  SELECT id, 1, 'bench', created_at, created_at + 1, 'succeeded', 200, 12000, 80 FROM jobs;
UPDATE batches SET state = 'completed', completed_at = created_at + 1;
SQL
  BATCH=$(sqlite3 "$W/big.db" "SELECT id FROM batches LIMIT 1")
  for rep in $(seq "$REPS"); do
    measure bigfiles "results --format openai" "$BIG_N rows" $rep 0 "DB finished with SQL" -- sh -c "'$CHOREO_BIN' results '$BATCH' --format openai --db '$W/big.db' > '$W/out.jsonl'"
  done
  for rep in $(seq 5); do
    measure bigfiles "status" "$BIG_N jobs" $rep 0 "" -- "$CHOREO_BIN" status --db "$W/big.db"
  done
  echo "export: $(wc -l < "$W/out.jsonl") lines, $(du -h "$W/out.jsonl" | cut -f1)" >&2
fi

echo >&2
cat "$W/machine.txt"
python3 "$BENCH/summarize.py" "$RAW"
echo
if [ "${KEEP:-0}" = 1 ]; then echo "raw rows: $RAW"; else echo "(KEEP=1 keeps the raw rows and the work folder)"; fi
