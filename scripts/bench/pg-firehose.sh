#!/usr/bin/env bash
# The PostgreSQL store against the SQLite store on the same work, side by side in one run (issue 15):
#   1. the firehose: JOBS jobs of the pre-generated K=256 OpenAI stream (nginx, as run.sh's), 64
#      at a time, full persistence; choreo's CPU per chunk with either store, and the PostgreSQL
#      server's own CPU beside it;
#   2. submit: SUBMIT_LINES short-form lines into either store, wall time.
#   scripts/bench/pg-firehose.sh
# Env: JOBS (2000), REPS (3), SUBMIT_LINES (1000000), CHOREO_BIN (skip the release build), PORT (18080).
# Medians of REPS. The cluster is throwaway (as pg-claims.sh starts it): fsync on, a unix socket.
# Results: BENCHMARKS.md, "PostgreSQL store against SQLite".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD; BENCH=$ROOT/scripts/bench
JOBS=${JOBS:-2000}; REPS=${REPS:-3}; SUBMIT_LINES=${SUBMIT_LINES:-1000000}; PORT=${PORT:-18080}; K=256

for tool in nginx python3 sqlite3; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
. scripts/bench/pg-cluster.sh
if [ -z "${CHOREO_BIN:-}" ]; then
  swift build -c release --static-swift-stdlib --scratch-path .build-bench --product choreo >&2
  CHOREO_BIN=$ROOT/.build-bench/release/choreo
fi
W=$(mktemp -d /tmp/choreo-pgfire.XXXXXX)
NGINX_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  pg_cluster_stop
  rm -rf "$W"
}
trap cleanup EXIT

pg_cluster_start "-c max_connections=100"

N=$W/nginx; mkdir -p "$N/tmp" "$N/www/k$K/v1/chat"
python3 "$BENCH/gen.py" sse "$K" "$N/www/k$K/v1/chat/completions"
sed -e "s#@PREFIX@#$N#g" -e "s#@PORT@#$PORT#g" "$BENCH/nginx.conf.in" > "$N/nginx.conf"
nginx -p "$N" -c "$N/nginx.conf"; sleep 0.3; NGINX_PID=$(cat "$N/nginx.pid")
python3 "$BENCH/gen.py" jobs "$JOBS" "$W/jobs.jsonl"
export OPENAI_BASE_URL=http://127.0.0.1:$PORT/k$K/v1 OPENAI_API_KEY=dummy
CHUNKS=$((JOBS * (K + 3)))

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel: $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "postgresql: $("$PGBIN/postgres" --version | awk '{print $3}') (fsync on, unix socket); choreo: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+local changes')"
  echo "firehose: $JOBS jobs × K=$K ($CHUNKS chunks), --concurrency 64; submit: $SUBMIT_LINES lines"
} >&2

RESULTS=$W/results.tsv; : > "$RESULTS"
# run STORE REP DB: submit and run the firehose jobs into DB; one results line.
run() {
  local store=$1 rep=$2 db=$3 c0 c1
  "$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$db" > /dev/null
  c0=$(pg_cpu)
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$CHOREO_BIN" run --db "$db" --concurrency 64 --quiet > "$W/out" 2>&1 \
    || { echo "choreo run on $store failed:" >&2; tail -5 "$W/out" >&2; }
  c1=$(pg_cpu)
  read -r wall user sys rss < "$W/time"
  printf 'firehose\t%s\t%s\t%s\t%s\t%s\t%s\n' "$store" "$rep" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" "$rss" >> "$RESULTS"
  printf 'firehose  %-10s rep %s  wall %6ss  choreo cpu %6ss  server cpu %6ss  rss %sKB\n' "$store" "$rep" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" "$rss" >&2
}
for rep in $(seq "$REPS"); do
  rm -f "$W"/f.sqlite*; run sqlite "$rep" "$W/f.sqlite"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS fire" -c "CREATE DATABASE fire"; run postgresql "$rep" "$(url fire)"
  ok=$("${PSQL[@]}" -d fire -At -c "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND length(output) > 0")
  [ "$ok" = "$JOBS" ] || echo "postgresql: only $ok of $JOBS jobs succeeded" >&2
done

python3 "$BENCH/gen.py" jobs "$SUBMIT_LINES" "$W/big.jsonl"
for rep in $(seq "$REPS"); do
  rm -f "$W"/s.sqlite*
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$CHOREO_BIN" submit "$W/big.jsonl" --db "$W/s.sqlite" > /dev/null
  read -r wall user sys rss < "$W/time"; printf 'submit\tsqlite\t%s\t%s\t%s\t-\t%s\n' "$rep" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$rss" >> "$RESULTS"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS big" -c "CREATE DATABASE big"
  c0=$(pg_cpu)
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$CHOREO_BIN" submit "$W/big.jsonl" --db "$(url big)" > /dev/null
  c1=$(pg_cpu)
  read -r wall user sys rss < "$W/time"; printf 'submit\tpostgresql\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" "$rss" >> "$RESULTS"
  tail -2 "$RESULTS" | sed 's/^/  /' >&2
done

python3 - "$RESULTS" "$CHUNKS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
chunks = int(sys.argv[2])
def med(kind, store, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == kind and r[1] == store and r[col] != "-")
fs, fp = med("firehose", "sqlite", 4), med("firehose", "postgresql", 4)
server = med("firehose", "postgresql", 5)
print("| measure (median of the runs) | SQLite store | PostgreSQL store | ratio |")
print("|---|---|---|---|")
print(f"| firehose: choreo CPU per chunk | {fs * 1e6 / chunks:.2f} µs | {fp * 1e6 / chunks:.2f} µs | {fp / fs:.2f}× |")
print(f"| firehose: + the PostgreSQL server's CPU per chunk | – | {(fp + server) * 1e6 / chunks:.2f} µs | {(fp + server) / fs:.2f}× |")
print(f"| firehose: wall | {med('firehose', 'sqlite', 3):.2f} s | {med('firehose', 'postgresql', 3):.2f} s | {med('firehose', 'postgresql', 3) / med('firehose', 'sqlite', 3):.2f}× |")
ss, sp = med("submit", "sqlite", 3), med("submit", "postgresql", 3)
print(f"| submit: wall | {ss:.2f} s | {sp:.2f} s | {sp / ss:.2f}× |")
print(f"| submit: choreo CPU (+ server CPU) | {med('submit', 'sqlite', 4):.2f} s | {med('submit', 'postgresql', 4):.2f} s (+ {med('submit', 'postgresql', 5):.2f} s) | |")
EOF
