#!/usr/bin/env bash
# Claim throughput on one PostgreSQL database (issue 15): jobs claimed and finished per second with
# 1, 3 and 6 `choreo run` processes at once, against the mock with its pacing off, beside one
# runner on a SQLite file. See BENCHMARKS.md, "PostgreSQL claims".
#   scripts/bench/pg-claims.sh
# Env: JOBS (4000), BATCHES (1: the jobs are submitted as this many batches of equal size),
#      RUNNERS ("1 3 6"), CONCURRENCY (64 per runner), TOKENS (16 per reply),
#      CHOREO_BIN (skip the build), MOCK_PORT (18189),
#      PG_OPTS (extra `postgres -c` settings; default none: fsync and synchronous_commit on, as a
#      real server runs), PG_STATS=1 (print the statements that took the server's time, from
#      pg_stat_statements, after the last PostgreSQL run), KEEP=1 (keep the work folder).
# The cluster is a throwaway one, as the tests start it (Tests/ChoreoTesting/PostgresServer.swift):
# initdb into a temporary folder (as the `postgres` user when root), a unix socket only, stopped
# and deleted at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
JOBS=${JOBS:-4000}; BATCHES=${BATCHES:-1}; RUNNERS=${RUNNERS:-"1 3 6"}; CONCURRENCY=${CONCURRENCY:-64}; TOKENS=${TOKENS:-16}
MOCK_PORT=${MOCK_PORT:-18189}; PG_OPTS=${PG_OPTS:-}; PG_STATS=${PG_STATS:-0}
[ "$PG_STATS" = 1 ] && PG_OPTS="$PG_OPTS -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"

for tool in python3 sqlite3 curl; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
. scripts/bench/pg-cluster.sh

if [ -z "${CHOREO_BIN:-}" ]; then
  swift build -c release --static-swift-stdlib --scratch-path .build-bench --product choreo >&2
  CHOREO_BIN=$ROOT/.build-bench/release/choreo
fi
W=$(mktemp -d /tmp/choreo-pgclaims.XXXXXX)
MOCK_PID=""
cleanup() {
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
  pg_cluster_stop
  if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

pg_cluster_start "-c max_connections=300 $PG_OPTS"

now() { date +%s.%N; }
# The mock's CPU seconds so far (it shares the machine's cores with the server and the runners).
mock_cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$MOCK_PID/stat"; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }

"$CHOREO_BIN" mock --port "$MOCK_PORT" --chunk-delay-ms 0 --tokens "$TOKENS" > "$W/mock.log" 2>&1 & MOCK_PID=$!
for _ in $(seq 50); do curl -s "http://127.0.0.1:$MOCK_PORT/v1/models" >/dev/null && break; sleep 0.1; done
python3 scripts/bench/gen.py jobs "$JOBS" "$W/jobs.jsonl" gpt-4o-mini "$TOKENS"
split -n "l/$BATCHES" -d "$W/jobs.jsonl" "$W/part."
# submit_all DB: the jobs as $BATCHES batches; sets SUBMIT (seconds).
submit_all() {
  local t0 t1 part
  t0=$(now)
  for part in "$W"/part.*; do "$CHOREO_BIN" submit "$part" --db "$1" > /dev/null 2>&1; done
  t1=$(now)
  SUBMIT=$(minus "$t0" "$t1")
}
export OPENAI_BASE_URL=http://127.0.0.1:$MOCK_PORT/v1 OPENAI_API_KEY=dummy

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); kernel: $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "postgresql: $("$PGBIN/postgres" --version | awk '{print $3}'); settings: max_connections=300 $PG_OPTS; unix socket"
  echo "choreo: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+local changes'); jobs: $JOBS in $BATCHES batch(es), $TOKENS tokens each; --concurrency $CONCURRENCY per runner"
} | tee "$W/machine.txt" >&2

RESULTS=$W/results.tsv
printf 'store\trunners\tjobs\twall_s\tjobs_per_s\tserver_cpu_s\tserver_ms_per_job\trunner_cpu_s\tmock_cpu_s\tsubmit_s\tcheck\n' > "$RESULTS"

# run_runners R DB: R runners at once on DB; sets WALL and RUNCPU (user+sys of all runners).
run_runners() {
  local r=$1 db=$2 pids=() i t0 t1 rc=0
  t0=$(now)
  for i in $(seq "$r"); do
    /usr/bin/time -f "%U %S" -o "$W/time.$i" "$CHOREO_BIN" run --db "$db" --concurrency "$CONCURRENCY" --quiet \
      > "$W/run.$i.out" 2> "$W/run.$i.err" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    # 3: work was left to another runner that still held it, which is how runners that share a
    # queue end; anything else is a failure.
    wait "${pids[$i]}" || { rc=$?; [ $rc = 3 ] || { echo "runner $((i + 1)) exited $rc:" >&2; tail -5 "$W/run.$((i + 1)).err" >&2; }; }
  done
  t1=$(now)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  RUNCPU=$(cat "$W"/time.* | awk '/^[0-9.]+ [0-9.]+$/{s+=$1+$2} END{printf "%.2f", s}')
  rm -f "$W"/time.*
}

# ---------------------------------------------------------------- PostgreSQL, 1, 3 and 6 runners
for R in $RUNNERS; do
  DBN=claims_$R
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DBN"
  [ "$PG_STATS" = 1 ] && "${PSQL[@]}" -d "$DBN" -c "CREATE EXTENSION pg_stat_statements; SELECT pg_stat_statements_reset()" >/dev/null
  submit_all "$(url $DBN)"
  C0=$(pg_cpu); M0=$(mock_cpu)
  run_runners "$R" "$(url $DBN)"
  C1=$(pg_cpu); M1=$(mock_cpu)
  SERVER=$(minus "$C0" "$C1")
  # Every job succeeded exactly once: one attempt each, with its text.
  CHECK=$("${PSQL[@]}" -d "$DBN" -At -F' ' -c "
    SELECT (SELECT string_agg(state || '=' || n, ',' ORDER BY state) FROM (SELECT state, count(*) n FROM jobs GROUP BY state) s)
      || ' attempts:' || (SELECT string_agg(attempts || 'x' || n, ',' ORDER BY attempts) FROM (SELECT attempts, count(*) n FROM jobs GROUP BY attempts) a)
      || ' attempt_rows:' || (SELECT count(*) FROM attempts)
      || ' empty_outputs:' || (SELECT count(*) FROM jobs WHERE coalesce(output, '') = '')")
  printf 'postgresql\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$R" "$JOBS" "$WALL" "$(awk -v n="$JOBS" -v w="$WALL" 'BEGIN{printf "%.0f", n/w}')" \
    "$SERVER" "$(awk -v c="$SERVER" -v n="$JOBS" 'BEGIN{printf "%.2f", c*1000/n}')" "$RUNCPU" "$(minus "$M0" "$M1")" "$SUBMIT" "$CHECK" | tee -a "$RESULTS" >&2
done

if [ "$PG_STATS" = 1 ]; then
  "${PSQL[@]}" -d "$DBN" -c "SELECT calls, round(total_exec_time) AS total_ms, round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
      rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_exec_time DESC LIMIT 12" > "$W/statements.txt"
  cat "$W/statements.txt" >&2
fi

# ---------------------------------------------------------------- SQLite, 1 runner (the reference)
rm -f "$W"/claims.sqlite*
submit_all "$W/claims.sqlite"
M0=$(mock_cpu)
run_runners 1 "$W/claims.sqlite"
M1=$(mock_cpu)
CHECK=$(sqlite3 "$W/claims.sqlite" "
  SELECT (SELECT group_concat(state || '=' || n, ',') FROM (SELECT state, count(*) n FROM jobs GROUP BY state ORDER BY state))
    || ' attempts:' || (SELECT group_concat(attempts || 'x' || n, ',') FROM (SELECT attempts, count(*) n FROM jobs GROUP BY attempts ORDER BY attempts))
    || ' attempt_rows:' || (SELECT count(*) FROM attempts)
    || ' empty_outputs:' || (SELECT count(*) FROM jobs WHERE coalesce(output, '') = '')")
printf 'sqlite\t1\t%s\t%s\t%s\t-\t-\t%s\t%s\t%s\t%s\n' "$JOBS" "$WALL" "$(awk -v n="$JOBS" -v w="$WALL" 'BEGIN{printf "%.0f", n/w}')" \
  "$RUNCPU" "$(minus "$M0" "$M1")" "$SUBMIT" "$CHECK" | tee -a "$RESULTS" >&2

# ---------------------------------------------------------------- verdict
echo >&2
cat "$W/machine.txt"
column -t -s$'\t' "$RESULTS"
BAD=$(awk -F'\t' -v n="$JOBS" 'NR>1 && $11 != "succeeded=" n " attempts:1x" n " attempt_rows:" n " empty_outputs:0" {print}' "$RESULTS")
if [ -n "$BAD" ]; then echo "NOT every job succeeded exactly once:" >&2; echo "$BAD" >&2; exit 1; fi
echo "every job succeeded exactly once, on every store" >&2
