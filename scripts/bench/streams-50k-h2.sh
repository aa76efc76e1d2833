#!/usr/bin/env bash
# 50,000 concurrent slow streams in one `choreo run`, over TLS HTTP/2 (issue 20: all complete,
# <= 1.2 GiB RSS). HTTP/2 lets the streams share connections, so neither the open-files limit
# (20,000 on this container, a hard limit) nor one address pair's ~28,000 ports bounds them.
#
#   CHOREO_BIN=/path/to/release/choreo scripts/bench/streams-50k-h2.sh
#
# nginx (NGINX_WORKERS workers, each its own process with its own open-files limit, sharing the
# port by `reuseport`) terminates TLS and HTTP/2 (H2_STREAMS streams a connection) and hands each
# stream to one of MOCKS `choreo mock` processes over HTTP/1.1, unbuffered: one upstream socket a
# stream, so neither nginx's workers nor the mocks need more than ~15,000 files each.
# Each stream is TOKENS chunks DELAY_MS apart: long enough that every stream is open before the
# first ends, slow enough that nginx, the mocks and choreo share 2 cores.
# Prints choreo's wall, CPU and peak RSS, how many streams were open at once (from the attempts'
# times), the connections nginx saw, and how many jobs succeeded. KEEP=1 keeps the work folder.
# Env: N (50000), TOKENS (60), DELAY_MS (2500), H2_STREAMS (500), NGINX_WORKERS (8), MOCKS (4),
# PORT (18643; the mocks take the next MOCKS ports), CLIENT (choreo; c: the C client instead),
# WRAP (a command put before choreo's, e.g. "heaptrack -o /tmp/h2": its peak RSS then includes
# the wrapper's).
set -euo pipefail
N=${N:-50000}; TOKENS=${TOKENS:-60}; DELAY_MS=${DELAY_MS:-2500}; H2_STREAMS=${H2_STREAMS:-500}
NGINX_WORKERS=${NGINX_WORKERS:-8}; MOCKS=${MOCKS:-4}; PORT=${PORT:-18643}
BENCH=$(cd "$(dirname "$0")" && pwd)
: "${CHOREO_BIN:?set CHOREO_BIN to a release build of choreo}"
for tool in nginx openssl sqlite3 /usr/bin/time; do command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 2; }; done
# Every port must be free: an nginx or a mock left over from another run would take some of the
# connections (another certificate: TLS failures; other streams: other lengths).
for p in $(seq "$PORT" $((PORT + MOCKS))); do
  ! ss -Htln "sport = :$p" | grep -q . || { echo "port $p is in use (ss -tlnp 'sport = :$p'); set PORT" >&2; exit 2; }
done
W=$(mktemp -d /tmp/choreo-50k.XXXXXX); mkdir -p "$W/tmp"
PIDS=()
cleanup() {
  local master=""
  [ -f "$W/nginx.pid" ] && master=$(cat "$W/nginx.pid") && kill "$master" 2> /dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  wait "${PIDS[@]}" 2> /dev/null || true
  # The next run needs the ports: wait for nginx's master, which goes after its workers.
  for _ in $(seq 100); do [ -n "$master" ] && kill -0 "$master" 2> /dev/null || break; sleep 0.1; done
  [ "${KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" 2> /dev/null
servers=""
for i in $(seq 1 "$MOCKS"); do
  "$CHOREO_BIN" mock --port $((PORT + i)) --chunk-delay-ms "$DELAY_MS" --tokens "$TOKENS" > "$W/mock$i.log" 2>&1 & PIDS+=($!)
  servers="$servers server 127.0.0.1:$((PORT + i));"
done
NOFILE=$(ulimit -Hn)
cat > "$W/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $NOFILE;
daemon on;
user root;
pid $W/nginx.pid;
error_log $W/error.log warn;
events { worker_connections $NOFILE; }
http {
    log_format connections '\$pid-\$connection \$status';
    access_log $W/access.log connections buffer=256k;
    client_body_temp_path $W/tmp;
    proxy_temp_path $W/tmp;
    fastcgi_temp_path $W/tmp;
    uwsgi_temp_path $W/tmp;
    scgi_temp_path $W/tmp;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    http2_max_concurrent_streams $H2_STREAMS;
    ssl_certificate $W/cert.pem;
    ssl_certificate_key $W/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream mock { $servers keepalive 1024; }
    server {
        listen 127.0.0.1:$PORT ssl http2 reuseport backlog=4096;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }
    }
}
EOF
nginx -p "$W" -c "$W/nginx.conf"  # fails (and so the script) when it cannot listen
for _ in $(seq 50); do [ -s "$W/nginx.pid" ] && break; sleep 0.1; done
sleep 1

SETUP="$N streams of $TOKENS chunks ${DELAY_MS} ms apart, nginx $NGINX_WORKERS workers ($H2_STREAMS streams a connection), $MOCKS mocks"
if [ "${CLIENT:-choreo}" = c ]; then
  # The floor: the C libcurl multi client (slowclient.c), RAMP=512 as choreo sends at most 512
  # requests at once, with curl's default buffers.
  gcc -O2 -o "$W/slowclient" "$BENCH/slowclient.c" -lcurl
  BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 0."}],"stream":true,"stream_options":{"include_usage":true}}'
  echo "streams-50k-h2: the C client, $SETUP" >&2
  set +e
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" env CAFILE="$W/cert.pem" RAMP=512 \
    "$W/slowclient" "https://127.0.0.1:$PORT/v1/chat/completions" "$N" "$BODY" > "$W/out" 2> "$W/run.err"
  rc=$?
  set -e
  ok=$(grep -o '"ok":[0-9]*' "$W/out" | cut -d: -f2); attempts=$N; most="?"
else
  python3 "$BENCH/gen.py" jobs "$N" "$W/jobs.jsonl"
  "$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$W/run.db" > /dev/null 2>&1
  echo "streams-50k-h2: $SETUP; open files: $(ulimit -Sn) soft, $NOFILE hard" >&2
  set +e
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" env OPENAI_BASE_URL="https://127.0.0.1:$PORT/v1" OPENAI_API_KEY=dummy \
    ${WRAP:-} "$CHOREO_BIN" run --db "$W/run.db" --concurrency "$N" --cacert "$W/cert.pem" --progress-interval 10 2> "$W/run.err"
  rc=$?
  set -e
  most=$(sqlite3 "$W/run.db" "SELECT max(c) FROM (SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c
    FROM (SELECT started_at AS t, 1 AS d FROM attempts UNION ALL SELECT ended_at, -1 FROM attempts WHERE ended_at IS NOT NULL))")
  ok=$(sqlite3 "$W/run.db" "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
  attempts=$(sqlite3 "$W/run.db" "SELECT count(*) FROM attempts")
fi
read -r wall user sys rss < "$W/time"
nginx -p "$W" -c "$W/nginx.conf" -s reopen 2> /dev/null || true  # flush the access log's buffer
sleep 1
conns=$(cut -d' ' -f1 "$W/access.log" | sort -u | wc -l)
grep -E "WARNING|ERROR|more streams than|failed" "$W/run.err" | head -5 >&2 || true
tail -2 "$W/run.err" >&2
printf 'exit %s; %s of %s succeeded in %s attempts; at most %s streams at once; wall %s s, CPU %s s (user %s, sys %s); peak RSS %s MiB; %s connections\n' \
  "$rc" "$ok" "$N" "$attempts" "$most" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$user" "$sys" "$((rss / 1024))" "$conns"
