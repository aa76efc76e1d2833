#!/usr/bin/env bash
# The main job on the embedded default: submits jobs/example-batch.jsonl to a fresh database and
# runs it against the built-in mock provider (started in-process; no key needed), then shows
# the status and the first results.
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
  swift build -c release --product choreo >&2
  choreo=".build/release/choreo"
fi
db="$(mktemp -d "${TMPDIR:-/tmp}/choreo-demo.XXXXXX")/demo.sqlite"
batch=$("$choreo" submit jobs/example-batch.jsonl --db "$db" --name demo)
"$choreo" run --db "$db" --batch "$batch" --mock --mock-fault-rate 0.15 --concurrency 8
"$choreo" status "$batch" --db "$db"
"$choreo" results "$batch" --db "$db" --format text | head -n 20
echo "demo database: $db (choreo status --db $db)" >&2
