#!/usr/bin/env bash
# The main job on the embedded default: submits jobs/example-batch.jsonl to a fresh database and
# runs it against the built-in mock provider (started in-process; no key needed), then shows
# the status and every result, one line each.
#
# The demo's database is a new file of its own in a temporary directory, never $CHOREO_DB: the
# README tells users to export CHOREO_DB for their real batches, and the demo starts from an
# empty database. CHOREO_DEMO_BINARY runs an already built choreo instead of building one (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CHOREO_DEMO_BINARY:-}" ]; then
  choreo="$CHOREO_DEMO_BINARY"
else
  scripts/setup.sh
  choreo="$(scripts/build-release.sh)"
fi
db="$(mktemp -d "${TMPDIR:-/tmp}/choreo-demo.XXXXXX")/demo.sqlite"
batch=$("$choreo" submit jobs/example-batch.jsonl --db "$db" --name demo)
cat >&2 <<'NOTE'
Running 20 jobs against the built-in mock provider. The WARNING lines below are faults the mock
injects on purpose (--mock-fault-rate 0.15: dropped streams, 429s, 5xx, stalls, bad chunks) to
show each job retried and its cut stream continued. The replies are the mock's filler words, not
a model's answers.
NOTE
"$choreo" run --db "$db" --batch "$batch" --mock --mock-fault-rate 0.15 --concurrency 8
"$choreo" status "$batch" --db "$db"
# Every result on one line (`choreo results` prints them whole).
"$choreo" sql --db "$db" "SELECT custom_id, state, attempts, finish_reason,
  substr(replace(output, char(10), ' '), 1, 40) AS output FROM results WHERE batch_id = '$batch' ORDER BY custom_id"
echo "demo database: $db (choreo status --db $db)" >&2
