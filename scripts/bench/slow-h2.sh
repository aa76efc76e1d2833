# Many slow streams over TLS HTTP/2 (issue 20: 10,000 slow streams on <= 100 connections, <= 300 MiB),
# beside the C libcurl client over the same nginx. Sourced by run.sh (its W, RAW, CHOREO_BIN,
# measure, NGINX_PID, MOCK_PID and cleanup); run it as `scripts/bench/run.sh --only slow-h2`.
# nginx (nginx-h2-proxy.conf.in) terminates TLS and h2 and proxies each stream to `choreo mock`.
# Env: H2_N (streams; "1000 10000"), H2_STREAMS (streams per connection nginx allows; "128 1000"),
# H2_PORT (18543), MOCK_PORT.
H2_PORT=${H2_PORT:-18543}; H2_N=${H2_N:-"1000 10000"}; H2_STREAMS=${H2_STREAMS:-"128 1000"}
command -v openssl >/dev/null || { echo "needs openssl" >&2; exit 2; }
T=$W/nginx-h2; mkdir -p "$T/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
"$CHOREO_BIN" mock --port "$MOCK_PORT" --chunk-delay-ms 100 --tokens 200 > "$W/mock-h2.log" 2>&1 & MOCK_PID=$!
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 0."}],"stream":true,"stream_options":{"include_usage":true}}'
# Appends the connections nginx logged since the last measurement to the last raw row's note.
h2_connections() {
  local note sep="; "
  note="conns=$(cut -d' ' -f1 "$T/access.log" | sort -u | wc -l), most requests on one=$(cut -d' ' -f1 "$T/access.log" | sort | uniq -c | sort -rn | awk 'NR==1{print $1}'), not 200=$(awk '$4 != 200' "$T/access.log" | wc -l)"
  tail -1 "$RAW" | grep -q $'\t$' && sep=""
  sed -i "\$ s/\$/$sep$note/" "$RAW"
  : > "$T/access.log"
}

# Notes the C client's failed streams (its JSON line) on the last raw row.
c_failures() {
  local failed; failed=$(grep -o '"failed":[0-9]*' "$W/out" | cut -d: -f2)
  [ "${failed:-0}" = 0 ] || sed -i "\$ s/\$/ONLY $(grep -o '"ok":[0-9]*' "$W/out" | cut -d: -f2) succeeded/" "$RAW"
}

for PS in $H2_STREAMS; do
  sed -e "s#@PREFIX@#$T#g" -e "s#@H2_PORT@#$H2_PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" -e "s#@STREAMS@#$PS#g" \
      -e "s#@NOFILE@#$(ulimit -Hn)#g" "$BENCH/nginx-h2-proxy.conf.in" > "$T/nginx.conf"
  nginx -p "$T" -c "$T/nginx.conf"; sleep 0.5; NGINX_PID=$(cat "$T/nginx.pid")
  BASE=https://127.0.0.1:$H2_PORT/v1
  PER=$(chunks_per_stream "$BASE" --cacert "$T/cert.pem" --http2)
  echo "slow-h2: $PER chunks per stream through nginx, $PS streams per connection" >&2
  for S in $H2_N; do
    : > "$T/access.log"
    measure slow-h2 "streams=$S h2 max=$PS" "C libcurl multi" 1 $((S * PER)) "" -- env CAFILE="$T/cert.pem" \
      "$W/slowclient" "$BASE/chat/completions" "$S" "$BODY"
    c_failures
    h2_connections
    # choreo sends at most 512 requests at once; the C client the same way (RAMP: at most 512
    # sent and waiting for their first byte), so both give curl the same chance to multiplex.
    measure slow-h2 "streams=$S h2 max=$PS" "C libcurl multi, RAMP=512" 1 $((S * PER)) "" -- env CAFILE="$T/cert.pem" RAMP=512 \
      "$W/slowclient" "$BASE/chat/completions" "$S" "$BODY"
    c_failures
    h2_connections
    python3 "$BENCH/gen.py" jobs "$S" "$W/slow-h2.jsonl"
    rm -f "$W"/h2.db*
    "$CHOREO_BIN" submit "$W/slow-h2.jsonl" --db "$W/h2.db" > /dev/null
    measure slow-h2 "streams=$S h2 max=$PS" choreo 1 $((S * PER)) "run only" -- env OPENAI_BASE_URL="$BASE" OPENAI_API_KEY=dummy \
      "$CHOREO_BIN" run --db "$W/h2.db" --concurrency "$S" --cacert "$T/cert.pem"
    h2_connections
    ok=$(sqlite3 "$W/h2.db" "SELECT count(*) FROM jobs WHERE state='succeeded'")
    echo "choreo: $ok of $S streams succeeded" >&2
    [ "$ok" = "$S" ] || sed -i '$ s/$/; ONLY '"$ok"' succeeded/' "$RAW"
  done
  kill "$NGINX_PID"; NGINX_PID=""; sleep 0.5
done
kill "$MOCK_PID"; MOCK_PID=""
