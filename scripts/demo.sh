#!/usr/bin/env bash
# The main job on the embedded default: submits jobs/example-batch.jsonl to a fresh database and
# runs it against the built-in mock provider (started in-process; no key needed), then shows
# the status and the first results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product choreo >&2
choreo=".build/release/choreo"
db="${CHOREO_DB:-demo.sqlite}"
rm -f "$db" "$db-wal" "$db-shm"
batch=$("$choreo" submit jobs/example-batch.jsonl --db "$db" --name demo)
"$choreo" run --db "$db" --batch "$batch" --mock --mock-fault-rate 0.15 --concurrency 8
"$choreo" status "$batch" --db "$db"
"$choreo" results "$batch" --db "$db" --format text | head -n 20
