#!/usr/bin/env bash
# `choreo submit` of an N-line job file against its floor in the same run: the sqlite3 shell
# loading the same file into the same table shape (issue 20: submit ≤ 2× that floor).
#
#   scripts/bench/submit-floor.sh [N]          # N lines (default 1,000,000); env: REPS (3), CHOREO_BIN
#
# The floor: `.import` of the raw lines (ascii mode: no quoting, one line one value), then one
# INSERT … SELECT with json_extract into a database with choreo's own schema (its indexes and
# triggers), in one transaction, WAL and synchronous=NORMAL as choreo opens it. It checks nothing;
# choreo parses every line strictly (duplicate keys, types, parameters per provider, model names),
# so the ratio is what validation costs on top of storing.
# Prints one row per run, then the medians and the ratio. Needs sqlite3 and GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
REPS=${REPS:-3}
W=$(mktemp -d /tmp/choreo-submit-floor.XXXXXX)
trap 'rm -rf "$W"' EXIT
if [ -z "${CHOREO_BIN:-}" ]; then
  swift build -c release --static-swift-stdlib --scratch-path .build-bench --product choreo >&2
  CHOREO_BIN=.build-bench/release/choreo
fi
python3 scripts/bench/gen.py jobs "$N" "$W/jobs.jsonl" gpt-4o-mini 256

# choreo's schema, from a database it made (the batch and its job deleted again).
echo '{"custom_id":"x","model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}' > "$W/one.jsonl"
"$CHOREO_BIN" submit "$W/one.jsonl" --db "$W/schema.db" >/dev/null
sqlite3 "$W/schema.db" 'DELETE FROM job_requests; DELETE FROM jobs; DELETE FROM batch_counts; DELETE FROM batches;'

cat > "$W/floor.sql" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -49152;
BEGIN IMMEDIATE;
CREATE TEMP TABLE raw (line TEXT);
.mode ascii
.separator "\\037" "\\n"
.import $W/jobs.jsonl raw
INSERT INTO batches (id, source_file, created_at, state, total_jobs) VALUES ('floor', '$W/jobs.jsonl', unixepoch(), 'pending', $N);
INSERT INTO jobs (id, batch_id, custom_id, line, model, created_at)
  SELECT rowid, 'floor', json_extract(line, '\$.custom_id'), rowid, json_extract(line, '\$.model'), unixepoch()
  FROM temp.raw;
INSERT INTO job_requests (job_id, request) SELECT rowid, json_remove(line, '\$.custom_id') FROM temp.raw;
COMMIT;
SQL

run() {  # name, command…: prints "name cpu_s wall_s maxrss_kib"
  local name=$1; shift
  /usr/bin/time -f "%U %S %e %M" -o "$W/time" "$@" >/dev/null
  read -r u s e m < "$W/time"
  echo "$name $(echo "$u + $s" | bc) $e $m"
}

results=()
for rep in $(seq "$REPS"); do
  rm -f "$W"/choreo.db* "$W"/floor.db*
  cp "$W/schema.db" "$W/floor.db"
  results+=("$(run floor sh -c "sqlite3 '$W/floor.db' < '$W/floor.sql'")")
  results+=("$(run choreo "$CHOREO_BIN" submit "$W/jobs.jsonl" --db "$W/choreo.db")")
  n=$(sqlite3 "$W/floor.db" 'SELECT count(*) FROM jobs'); [ "$n" = "$N" ] || { echo "floor stored $n of $N" >&2; exit 1; }
  n=$(sqlite3 "$W/choreo.db" 'SELECT count(*) FROM jobs'); [ "$n" = "$N" ] || { echo "choreo stored $n of $N" >&2; exit 1; }
done
printf '%s\n' "${results[@]}"
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
med = {}
for name in ("floor", "choreo"):
    r = [x for x in rows if x[0] == name]
    med[name] = [statistics.median(float(x[i]) for x in r) for i in (1, 2, 3)]
    print(f"median {name}: cpu {med[name][0]:.2f} s, wall {med[name][1]:.2f} s, rss {med[name][2]/1024:.0f} MiB")
c, f = med["choreo"], med["floor"]
print(f"choreo / floor: cpu {c[0]/f[0]:.2f}x, wall {c[1]/f[1]:.2f}x")
'
