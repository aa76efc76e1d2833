# What the durable partial output costs a run of many slow streams: `choreo run` of FLUSH_N slow
# streams (plain HTTP, `choreo mock --chunk-delay-ms 100 --tokens 200` by default), with ~100-byte requests and
# with a 5 KB system prompt, each with the partial flushes at their default interval and off
# (`--flush-interval-ms 600000`: only the final write). Sourced by run.sh (its W, RAW, CHOREO_BIN,
# measure, MOCK_PID and cleanup); run it as `scripts/bench/run.sh --only flush`.
# Medians of REPS runs (3; --quick 1). Env: FLUSH_N (streams; 2000), FLUSH_PROMPTS (system prompt bytes, 0 = none; "0 5000"),
# FLUSH_TOKENS (chunks a stream; 200, ~1 KB answers; round 18's long answers: FLUSH_N=1000 FLUSH_TOKENS=1200 FLUSH_DELAY_MS=40),
# FLUSH_DELAY_MS (between chunks; 100), MOCK_PORT.
FLUSH_N=${FLUSH_N:-2000}; FLUSH_PROMPTS=${FLUSH_PROMPTS:-"0 5000"}; FLUSH_TOKENS=${FLUSH_TOKENS:-200}; FLUSH_DELAY_MS=${FLUSH_DELAY_MS:-100}
"$CHOREO_BIN" mock --port "$MOCK_PORT" --chunk-delay-ms "$FLUSH_DELAY_MS" --tokens "$FLUSH_TOKENS" > "$W/mock-flush.log" 2>&1 & MOCK_PID=$!
sleep 1
PER=$(chunks_per_stream "http://127.0.0.1:$MOCK_PORT/v1")
for P in $FLUSH_PROMPTS; do
  python3 "$BENCH/gen.py" jobs "$FLUSH_N" "$W/flush.jsonl" gpt-4o-mini "" "$P"
  for rep in $(seq "$REPS"); do for F in 100 600000; do
    rm -f "$W"/f.db*
    "$CHOREO_BIN" submit "$W/flush.jsonl" --db "$W/f.db" > /dev/null
    measure flush "streams=$FLUSH_N system=$P" "choreo flush=${F}ms" "$rep" $((FLUSH_N * PER)) "run only" -- env OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" OPENAI_API_KEY=dummy \
      "$CHOREO_BIN" run --db "$W/f.db" --concurrency "$FLUSH_N" --flush-interval-ms "$F"
    ok=$(sqlite3 "$W/f.db" "SELECT count(*) FROM jobs WHERE state='succeeded'")
    [ "$ok" = "$FLUSH_N" ] || { echo "choreo: only $ok of $FLUSH_N streams succeeded" >&2; sed -i '$ s/run only$/run only; ONLY '"$ok"' succeeded/' "$RAW"; }
  done; done
done
kill "$MOCK_PID"; MOCK_PID=""
