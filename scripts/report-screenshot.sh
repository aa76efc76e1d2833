#!/usr/bin/env bash
# Makes docs/report.png, the README's picture of `choreo report`: 600 generated jobs over three
# models run against the built-in mock provider with faults (drops, 429s, 5xx, stalls), reported,
# and photographed by headless Chromium. CHOREO_BINARY runs an already built choreo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
choreo=${CHOREO_BINARY:-}
if [ -z "$choreo" ]; then
  choreo="$(scripts/build-release.sh)"
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/choreo-screenshot.XXXXXX")
python3 scripts/bench/gen.py jobs 200 "$dir/a.jsonl" gpt-4o-mini 80
python3 scripts/bench/gen.py jobs 200 "$dir/b.jsonl" claude-sonnet-4-5 80
python3 scripts/bench/gen.py jobs 200 "$dir/c.jsonl" gemini-2.0-flash 80
cat "$dir/a.jsonl" "$dir/b.jsonl" "$dir/c.jsonl" | awk '{ sub(/"custom_id": *"/, "&" NR "-"); print }' > "$dir/jobs.jsonl"
batch=$("$choreo" submit "$dir/jobs.jsonl" --db "$dir/r.sqlite" --name screenshot)
"$choreo" run --db "$dir/r.sqlite" --batch "$batch" --mock --mock-fault-rate 0.25 --mock-chunk-delay-ms 20 \
  --concurrency 48 --max-attempts 2 >/dev/null 2>&1 || true   # some jobs fail on purpose
"$choreo" report "$batch" --db "$dir/r.sqlite" --output "$dir/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
  --window-size=1280,1500 --screenshot="$PWD/docs/report.png" "$dir/report.html" 2>/dev/null
echo "wrote docs/report.png (report: $dir/report.html)" >&2
