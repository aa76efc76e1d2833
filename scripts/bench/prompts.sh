# What a real prompt costs a job: `submit` + `run` of PROMPT_N jobs of 4 tokens each (`choreo mock
# --tokens 4 --chunk-delay-ms 0`, plain HTTP, C=64) with ~100-byte requests and with a 5 KB system
# prompt, against the aiohttp runner on the same jobs. The firehose's requests are ~100 bytes; real
# ones carry kilobytes that choreo stores, parses, hashes for the request key and sends with each
# job. Sourced by run.sh (its W, RAW, CHOREO_BIN, measure, MOCK_PID and cleanup); run it as
# `scripts/bench/run.sh --only prompts`. Medians of REPS runs. Env: PROMPT_N (jobs; 2000),
# PROMPT_SIZES (system prompt bytes, 0 = none; "0 5000"), MOCK_PORT.
PROMPT_N=${PROMPT_N:-2000}; PROMPT_SIZES=${PROMPT_SIZES:-"0 5000"}
"$CHOREO_BIN" mock --port "$MOCK_PORT" --chunk-delay-ms 0 --tokens 4 > "$W/mock-prompts.log" 2>&1 & MOCK_PID=$!
sleep 1
BASE=http://127.0.0.1:$MOCK_PORT/v1
PER=$(chunks_per_stream "$BASE")
for P in $PROMPT_SIZES; do
  python3 "$BENCH/gen.py" jobs "$PROMPT_N" "$W/prompts.jsonl" gpt-4o-mini "" "$P"
  for rep in $(seq "$REPS"); do
    rm -f "$W"/a.db*
    measure prompts "system=$P" aiohttp+sqlite3 "$rep" $((PROMPT_N * PER)) "" -- python3 "$BENCH/runner_aiohttp.py" "$W/prompts.jsonl" "$BASE" "$W/a.db" 64 openai
    rm -f "$W"/p.db*
    measure prompts "system=$P" choreo "$rep" $((PROMPT_N * PER)) "submit+run" -- env OPENAI_BASE_URL="$BASE" OPENAI_API_KEY=dummy \
      sh -c "'$CHOREO_BIN' submit '$W/prompts.jsonl' --db '$W/p.db' >/dev/null && '$CHOREO_BIN' run --db '$W/p.db' --concurrency 64"
    ok=$(sqlite3 "$W/p.db" "SELECT count(*) FROM jobs WHERE state='succeeded'")
    [ "$ok" = "$PROMPT_N" ] || { echo "choreo: only $ok of $PROMPT_N jobs succeeded" >&2; sed -i '$ s/submit+run$/submit+run; ONLY '"$ok"' succeeded/' "$RAW"; }
  done
done
kill "$MOCK_PID"; MOCK_PID=""
