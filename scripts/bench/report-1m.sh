#!/usr/bin/env bash
# Times `choreo report` on a finished synthetic batch of a million jobs (issue 18: ≤ 10 s into
# ≤ 5 MB). Usage: scripts/bench/report-1m.sh [N]   (builds release first; scratch dir in /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
swift build -c release --product choreo >/dev/null
choreo=$PWD/.build/release/choreo
dir=$(mktemp -d /tmp/choreo-report-bench.XXXXXX)
echo '{"custom_id": "seed", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}' > "$dir/seed.jsonl"
batch=$("$choreo" submit "$dir/seed.jsonl" --db "$dir/bench.sqlite")
python3 scripts/bench/report-1m.py "$dir/bench.sqlite" "$batch" "$n"
start=$(date +%s.%N)
"$choreo" report "$batch" --db "$dir/bench.sqlite" --output "$dir/report.html"
end=$(date +%s.%N)
bytes=$(stat -c %s "$dir/report.html")
printf 'report of %d jobs: %.2f s, %.2f MB (%s)\n' "$n" "$(echo "$end - $start" | bc)" "$(echo "$bytes / 1000000" | bc -l)" "$dir/report.html"
