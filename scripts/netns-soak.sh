#!/usr/bin/env bash
# Runners on separate machines sharing one PostgreSQL database, simulated for real (issue 15): each
# `choreo run` lives in a network namespace of its own and reaches the database and the mock
# provider over its own veth link, through a bridge on this machine:
#
#     ns 1 ──veth──┐
#     ns 2 ──veth──┼── bridge ── 10.213.N.1: PostgreSQL
#     ns 3 ──veth──┘             10.213.N.2: choreo mock
#
# While they drain one batch, runner 1 is SIGKILLed twice (and started again each time), runner
# 2's link is cut for a while, and runner 3 loses the database alone for as long (a blackhole route
# to its address: the provider still streams to it). Then every job must have ended exactly once,
# with the exact text of an undisturbed run (one runner, a SQLite file, the same mock), and no job
# may have had attempts of two runners at once: an attempt ends (or is closed by the runner that
# took the job over) before another runner's attempt at that job begins. Runner 3 is the hard
# case: it must stop its streams before its leases pass (`LeaseKeeper`), since it cannot know
# whether another runner took its jobs.
#
#   scripts/netns-soak.sh              # 2000 jobs, a 20 s cut (about a minute)
# Env: JOBS (2000), CUT (seconds the link is down: 20), CONCURRENCY (16 per runner),
#      LEASE (lease seconds: 8; CUT must outlast three quarters of it), CHUNK_MS (the mock's pacing: 20), CHOREO_BIN (default: the debug
#      build, built if missing), KEEP=1 keeps the work folder, RPM (a requests-per-minute limit
#      every runner is given: the runners share it through the database, and the check below
#      holds the three of them to it together; e.g. RPM=600 JOBS=2000, about 3 minutes).
# Needs root (namespaces, veth, a bridge), iproute2 and PostgreSQL (scripts/setup.sh installs it).
# Tests/ChoreoCLITests/NetnsSoakTests.swift runs it small in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2000}; RUNNERS=3; CUT=${CUT:-20}; CONCURRENCY=${CONCURRENCY:-16}
LEASE=${LEASE:-8}; CHUNK_MS=${CHUNK_MS:-20}; KEEP=${KEEP:-0}
# A stream whose provider goes silent (one job in 50, on its first attempt) lasts this long: past
# the lease, so a runner cut off from the database that did not stop it would still hold it when
# another runner takes the job.
STALL=$((LEASE + 2))

say() { echo "netns-soak: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { say "needs root (network namespaces)"; exit 2; }
command -v ip >/dev/null || { say "needs iproute2 (ip)"; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -1)
[ -x "$PGBIN/initdb" ] || { say "needs PostgreSQL (apt-get install postgresql)"; exit 2; }
if [ -z "${CHOREO_BIN:-}" ]; then
  CHOREO_BIN=$(swift build --show-bin-path)/choreo
  [ -x "$CHOREO_BIN" ] || swift build --product choreo >&2
fi

TAG=$$
SUBNET=10.213.$((TAG % 250 + 1))
BRIDGE=chb$((TAG % 100000))
W=$(mktemp -d /tmp/choreo-netns.XXXXXX)
PG=$(mktemp -d /tmp/choreo-nsp.XXXXXX)  # short: a unix socket's path is limited
chown postgres: "$PG"
pg() { /usr/sbin/runuser -u postgres -- "$PGBIN/$1" "${@:2}"; }
PIDS=()
MOCK_PID=""

kill_runner() {  # kill_runner I: SIGKILL every process in runner I's namespace (the runner, whatever PID it got), and wait for them to go
  local ns=choreo-soak-$TAG-$1 n
  kill -9 "${PIDS[$1]}" $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null || true
  for n in $(seq 100); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && return 0; sleep 0.1; done
  say "runner $1's namespace still has processes after SIGKILL: $(ip netns pids "$ns" | tr '\n' ' ')"
}
cleanup() {
  for i in "${!PIDS[@]}"; do kill_runner "$i"; done
  [ -n "$MOCK_PID" ] && kill -9 "$MOCK_PID" 2>/dev/null || true
  for i in $(seq 1 "$RUNNERS"); do ip netns del "choreo-soak-$TAG-$i" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  pg pg_ctl -D "$PG/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG"
  if [ "$KEEP" = 1 ]; then say "work folder kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # through the EXIT trap: no namespace, bridge or cluster is left behind

# The network: a bridge with the host's address, and one namespace per runner behind a veth.
ip link add "$BRIDGE" type bridge
ip addr add "$SUBNET.1/24" dev "$BRIDGE"
ip addr add "$SUBNET.2/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
for i in $(seq 1 "$RUNNERS"); do
  ns=choreo-soak-$TAG-$i
  ip netns add "$ns"
  ip link add "cv$i-$TAG" type veth peer name eth0 netns "$ns"
  ip link set "cv$i-$TAG" master "$BRIDGE" up
  ip -n "$ns" addr add "$SUBNET.$((10 + i))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done

# The database, on the bridge's address (and a unix socket for this script).
pg initdb -D "$PG/data" -A trust -U choreo -E UTF8 --locale=C --no-sync >/dev/null
echo "host all all $SUBNET.0/24 trust" >> "$PG/data/pg_hba.conf"
pg pg_ctl -D "$PG/data" -l "$PG/server.log" -w -t 60 \
  -o "-k $PG -h $SUBNET.1 -p 5432 -c max_connections=200 -c fsync=off" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG" -U choreo)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE soak" >/dev/null
URL="postgres://choreo@$SUBNET.1:5432/soak?connect_timeout=5"
sql() { "${PSQL[@]}" -d soak -c "$1"; }

# The provider, on an address of its own (runner 3 loses the database's alone).
"$CHOREO_BIN" mock --host "$SUBNET.2" --port 0 --chunk-delay-ms "$CHUNK_MS" > "$W/mock.log" 2>&1 & MOCK_PID=$!
for _ in $(seq 100); do grep -q "http://" "$W/mock.log" && break; sleep 0.1; done
MOCK=$(grep -o "http://[0-9.]*:[0-9]*" "$W/mock.log" | head -1)  # "mock provider listening on http://…"
[ -n "$MOCK" ] || fail "the mock did not start: $(cat "$W/mock.log")"
export OPENAI_BASE_URL=$MOCK/v1 OPENAI_API_KEY=soak-not-a-key

python3 scripts/bench/gen.py jobs "$JOBS" "$W/jobs.plain.jsonl" gpt-4o-mini
# One job in 50 stalls on its first attempt (two chunks, then silence): long streams for the fence.
python3 - "$W/jobs.plain.jsonl" "$W/jobs.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for i, line in enumerate(src):
        job = json.loads(line)
        if i % 50 == 7: job["mock"] = {"fault": "stall", "after": 2, "times": 1}
        out.write(json.dumps(job) + "\n")
EOF
"$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$URL" > "$W/submit.log" 2>&1 || fail "submit: $(cat "$W/submit.log")"

RUN_ARGS=(run --db "$URL" --concurrency "$CONCURRENCY" --lease-seconds "$LEASE" --stall-timeout "$STALL" --progress-interval 1)
RPM=${RPM:-}
[ -n "$RPM" ] && RUN_ARGS+=(--rpm "$RPM")
start_runner() {  # start_runner I: a runner in namespace I, its log appended to runner-I.log
  ip netns exec "choreo-soak-$TAG-$1" "$CHOREO_BIN" "${RUN_ARGS[@]}" >> "$W/runner-$1.log" 2>&1 &
  PIDS[$1]=$!
}
left() { sql "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')"; }
done_jobs() { sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'"; }
wait_done_at_least() {  # wait_done_at_least N: until N jobs succeeded (or 10 minutes)
  local until=$(( $(date +%s) + 600 )) n=0
  while [ "$(date +%s)" -lt "$until" ]; do
    n=$(done_jobs 2>>"$W/psql.log" || echo 0)
    [ "${n:-0}" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "$n jobs done after 10 minutes, waiting for $1 (psql: $(tail -2 "$W/psql.log"))"
}

T0=$(date +%s)
for i in $(seq 1 "$RUNNERS"); do start_runner "$i"; done

# Chaos, at moments picked by progress: runner 1 killed at 15 %, runner 2's link cut and runner
# 3's way to the database blocked at 30 % for CUT seconds (runner 1 alone must go on meanwhile:
# the others may have been cut off inside a transaction), runner 1 killed again at 60 %.
wait_done_at_least $((JOBS * 15 / 100))
kill_runner 1; say "runner 1 SIGKILLed at $(done_jobs) jobs done"; start_runner 1
wait_done_at_least $((JOBS * 30 / 100))
ip link set "cv2-$TAG" down
ip -n "choreo-soak-$TAG-3" route add blackhole "$SUBNET.1/32"
CUT_FROM=$(done_jobs)
say "runner 2's link cut, and runner 3's way to the database, at $CUT_FROM jobs done, for ${CUT} s"
sleep "$CUT"
CUT_TO=$(done_jobs)
ip link set "cv2-$TAG" up
ip -n "choreo-soak-$TAG-3" route del blackhole "$SUBNET.1/32"
say "runner 2's link and runner 3's way to the database back at $CUT_TO jobs done"
[ "$CUT_TO" -gt "$CUT_FROM" ] || fail "no job was done while two runners were cut off: the third stalled with them"
wait_done_at_least $((JOBS * 60 / 100))
kill_runner 1; say "runner 1 SIGKILLed again at $(done_jobs) jobs done"; start_runner 1

# Every runner ends by itself once the batch is done (10 minutes at most).
for i in $(seq 1 "$RUNNERS"); do
  for _ in $(seq 6000); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.1; done
  kill -0 "${PIDS[$i]}" 2>/dev/null && fail "runner $i did not end: $(tail -5 "$W/runner-$i.log")"
  wait "${PIDS[$i]}" || say "runner $i exited with $? (its last lines: $(tail -2 "$W/runner-$i.log" | tr '\n' ' '))"
done
ELAPSED=$(( $(date +%s) - T0 ))

# The undisturbed run: one runner, a SQLite file, the same mock.
"$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$W/reference.sqlite" > /dev/null
"$CHOREO_BIN" run --db "$W/reference.sqlite" --concurrency 64 --stall-timeout 1 --quiet > "$W/reference.log" 2>&1 || fail "the reference run: $(tail -5 "$W/reference.log")"

sql "COPY (SELECT custom_id, state, output FROM jobs ORDER BY custom_id) TO STDOUT WITH (FORMAT csv)" > "$W/soak.csv"
sql "COPY (SELECT j.custom_id, a.runner, a.number, a.started_at, a.ended_at, coalesce(a.outcome, ''),
                  coalesce(a.error_message, '') LIKE '%not sent: this attempt''s start was confirmed%'
           FROM attempts a JOIN jobs j ON j.id = a.job_id ORDER BY j.custom_id, a.number) TO STDOUT WITH (FORMAT csv)" > "$W/attempts.csv"
python3 - "$W" "$JOBS" "$RPM" <<'EOF' || exit 1
import csv, sqlite3, sys
w, jobs, rpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3] or 0)
problems = []
ref = dict(sqlite3.connect(f"{w}/reference.sqlite").execute("SELECT custom_id, output FROM jobs WHERE state = 'succeeded'"))
if len(ref) != jobs: problems.append(f"the reference run finished {len(ref)} of {jobs} jobs")
rows = list(csv.reader(open(f"{w}/soak.csv")))
if len(rows) != jobs: problems.append(f"{len(rows)} jobs in the database, {jobs} submitted")
for cid, state, output in rows:
    if state != "succeeded": problems.append(f"{cid}: {state}")
    elif output != ref.get(cid): problems.append(f"{cid}: its text differs from the undisturbed run's")
attempts = {}
for cid, runner, number, started, ended, outcome, unsent in csv.reader(open(f"{w}/attempts.csv")):
    attempts.setdefault(cid, []).append((runner, int(number), float(started), float(ended) if ended else None, outcome, unsent == "t"))
for cid, xs in attempts.items():
    wins = [x for x in xs if x[4] == "succeeded"]
    if len(wins) != 1: problems.append(f"{cid}: {len(wins)} attempts succeeded")
    for a in xs:
        if a[3] is None: problems.append(f"{cid}: attempt {a[1]} never ended")
    for a in xs:
        for b in xs:
            # An attempt whose start was confirmed too late sent nothing (RunContext.startAttempts).
            if a[0] != b[0] and a[1] < b[1] and a[3] is not None and b[2] < a[3] and not a[5]:
                problems.append(f"{cid}: attempt {b[1]} ({b[0]}) began before attempt {a[1]} ({a[0]}) ended")
if rpm:
    # The shared bucket holds a minute's requests and refills at rpm/60 a second: the k-th request
    # of the three runners together goes out no sooner than that allows, give or take the second's
    # worth each runner may hold (ProviderBudgets). A limit applied by each runner alone lets the
    # three send three times as fast.
    starts = sorted(x[2] for xs in attempts.values() for x in xs)
    slack = 3 * max(1, rpm / 60) + 3
    over = [(k, t) for k, t in enumerate(starts, 1) if k > rpm + rpm / 60 * (t - starts[0]) + slack]
    if over: problems.append(f"{len(over)} requests went out faster than {rpm} a minute shared allows (the first: request {over[0][0]} at {over[0][1] - starts[0]:.1f} s)")
runners = {x[0] for xs in attempts.values() for x in xs}
lease_lost = sum(1 for xs in attempts.values() for x in xs if x[4] == "lease_lost")
print(f"netns-soak: {jobs} jobs, {sum(map(len, attempts.values()))} attempts by {len(runners)} runner processes; "
      f"{lease_lost} ends written after the job had been taken over (refused as lease_lost)", file=sys.stderr)
for p in problems[:20]: print("netns-soak:   " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
LOST=$(sql "SELECT count(*) FROM attempts WHERE error_kind = 'runner_lost'")
FENCED=$(sql "SELECT count(*) FROM attempts WHERE error_message LIKE '%stopped: this runner''s lease renewals%'")
UNSENT=$(sql "SELECT count(*) FROM attempts WHERE error_message LIKE '%not sent: this attempt''s start was confirmed%'")
FENCES=$(grep -l "no lease renewal got through" "$W"/runner-*.log | wc -l)
say "ok: every job ended once with the undisturbed run's text, in ${ELAPSED} s; $FENCES runners fenced themselves off; $LOST attempts taken over from a runner that was gone, $FENCED streams stopped by a runner cut off from the database, $UNSENT attempts not sent because their start was confirmed after the lease could have passed"
