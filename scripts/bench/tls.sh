# The firehose over TLS, HTTP/1.1 and HTTP/2, beside its floors over the same TLS: curl --parallel
# and the C libcurl client (slowclient.c with PARALLEL and CAFILE), and plain HTTP in the same run.
# Sourced by run.sh (its W, RAW, REPS, JOBS, CHOREO_BIN, measure, NGINX_PID and cleanup); run it
# as `scripts/bench/run.sh --only tls`. nginx-tls.conf.in; the self-signed certificate is made here.
# Env: TLS_PORT (18443: TLS HTTP/1.1; TLS_PORT-1 plain HTTP, TLS_PORT+1 TLS HTTP/2), TLS_K (256),
# TLS_C (64), TLS_PERF (1: one more choreo run per protocol under `perf record`, shares by library).
TLS_PORT=${TLS_PORT:-18443}; TLS_K=${TLS_K:-256}; TLS_C=${TLS_C:-64}
command -v openssl >/dev/null || { echo "needs openssl" >&2; exit 2; }
T=$W/nginx-tls; mkdir -p "$T/tmp" "$T/www/k$TLS_K/v1/chat"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
python3 "$BENCH/gen.py" sse "$TLS_K" "$T/www/k$TLS_K/v1/chat/completions"
sed -e "s#@PREFIX@#$T#g" -e "s#@PLAIN_PORT@#$((TLS_PORT - 1))#g" -e "s#@H1_PORT@#$TLS_PORT#g" -e "s#@H2_PORT@#$((TLS_PORT + 1))#g" \
  "$BENCH/nginx-tls.conf.in" > "$T/nginx.conf"
nginx -p "$T" -c "$T/nginx.conf"; sleep 0.3; NGINX_PID=$(cat "$T/nginx.pid")
[ -f "$W/jobs.jsonl" ] || python3 "$BENCH/gen.py" jobs "$JOBS" "$W/jobs.jsonl"
echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}' > "$W/body.json"
PER=$((TLS_K + 3))   # chunks per response: role, K content, finish, usage ([DONE] not counted)

# Appends the connections nginx logged since the last measurement to the last raw row's note.
tls_connections() {
  local note sep="; "
  note="conns=$(cut -d' ' -f1 "$T/access.log" | sort -u | wc -l), most requests on one=$(cut -d' ' -f1 "$T/access.log" | sort | uniq -c | sort -rn | awk 'NR==1{print $1}')"
  tail -1 "$RAW" | grep -q $'\t$' && sep=""
  sed -i "\$ s/\$/$sep$note/" "$RAW"
  : > "$T/access.log"
}

for P in plain h1 h2; do
  case $P in
    plain) BASE=http://127.0.0.1:$((TLS_PORT - 1))/k$TLS_K/v1; LABEL="plain HTTP/1.1 K=$TLS_K" ;;
    h1) BASE=https://127.0.0.1:$TLS_PORT/k$TLS_K/v1; LABEL="TLS HTTP/1.1 K=$TLS_K" ;;
    h2) BASE=https://127.0.0.1:$((TLS_PORT + 1))/k$TLS_K/v1; LABEL="TLS HTTP/2 K=$TLS_K" ;;
  esac
  (for i in $(seq "$JOBS"); do echo "url = \"$BASE/chat/completions\""; echo 'output = "/dev/null"'; done) > "$W/curl-tls.cfg"
  : > "$T/access.log"
  for rep in $(seq "$REPS"); do
    measure tls "$LABEL" curl $rep $((JOBS * PER)) "" -- curl -sS --parallel --parallel-max "$TLS_C" --cacert "$T/cert.pem" \
      -H 'Content-Type: application/json' -d @"$W/body.json" -K "$W/curl-tls.cfg"
    tls_connections
    measure tls "$LABEL" "C libcurl multi" $rep $((JOBS * PER)) "" -- env PARALLEL="$TLS_C" CAFILE="$T/cert.pem" \
      "$W/slowclient" "$BASE/chat/completions" "$JOBS" "$(cat "$W/body.json")"
    tls_connections
    rm -f "$W"/t.db*
    measure tls "$LABEL" choreo $rep $((JOBS * PER)) "submit+run" -- env OPENAI_BASE_URL="$BASE" OPENAI_API_KEY=dummy \
      sh -c "'$CHOREO_BIN' submit '$W/jobs.jsonl' --db '$W/t.db' >/dev/null && '$CHOREO_BIN' run --db '$W/t.db' --concurrency $TLS_C --cacert '$T/cert.pem'"
    tls_connections
    ok=$(sqlite3 "$W/t.db" "SELECT count(*) FROM jobs WHERE state='succeeded' AND length(output) > 0")
    [ "$ok" = "$JOBS" ] || echo "choreo: only $ok of $JOBS jobs succeeded" >&2
  done
  if [ "${TLS_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
    # Where choreo's CPU goes, by library: cpu-clock samples (no hardware counters needed).
    rm -f "$W"/t.db*
    OPENAI_BASE_URL="$BASE" OPENAI_API_KEY=dummy "$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$W/t.db" >/dev/null
    OPENAI_BASE_URL="$BASE" OPENAI_API_KEY=dummy perf record -q -e cpu-clock -F 2999 -o "$W/perf-$P.data" -- \
      "$CHOREO_BIN" run --db "$W/t.db" --concurrency "$TLS_C" --cacert "$T/cert.pem" --quiet 2>/dev/null
    echo "perf ($LABEL, choreo run): CPU share by library" >&2
    perf report -i "$W/perf-$P.data" --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >&2
  fi
done
kill "$NGINX_PID"; NGINX_PID=""
