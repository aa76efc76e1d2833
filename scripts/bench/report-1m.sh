#!/usr/bin/env bash
# Times `choreo report` on a finished synthetic batch of a million jobs (issue 18: ≤ 10 s into
# ≤ 5 MB), against its floor in the same run: the `sqlite3` shell reading every value the report
# reads (its two passes, over the batch's jobs and over their attempts) into sums and counts, so
# that printing costs nothing.
# Usage: scripts/bench/report-1m.sh [N]   (builds release first; scratch dir in /tmp; needs sqlite3)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
choreo=$(scripts/build-release.sh)  # the build's output and errors go to stderr
dir=$(mktemp -d /tmp/choreo-report-bench.XXXXXX)
echo '{"custom_id": "seed", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}' > "$dir/seed.jsonl"
batch=$("$choreo" submit "$dir/seed.jsonl" --db "$dir/bench.sqlite")
python3 scripts/bench/report-1m.py "$dir/bench.sqlite" "$batch" "$n"
start=$(date +%s.%N)
"$choreo" report "$batch" --db "$dir/bench.sqlite" --output "$dir/report.html"
end=$(date +%s.%N)
bytes=$(stat -c %s "$dir/report.html")
floor_start=$(date +%s.%N)
sqlite3 "$dir/bench.sqlite" >/dev/null <<SQL
SELECT count(model), count(state), sum(finished_at), sum(completion_tokens), sum(first_token_ms), sum(duration_ms),
       sum(gap_p95_ms), sum(tokens_per_s)
  FROM jobs WHERE batch_id = '$batch' AND state IN ('succeeded', 'failed');
SELECT sum(a.started_at), sum(a.ended_at), count(a.outcome), count(a.error_kind), sum(a.http_status)
  FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.batch_id = '$batch';
SQL
floor_end=$(date +%s.%N)
report=$(echo "$end - $start" | bc); floor=$(echo "$floor_end - $floor_start" | bc)
printf 'report of %d jobs: %.2f s, %.2f MB; floor (sqlite3 reading the same values): %.2f s; report/floor %.2fx (%s)\n' \
  "$n" "$report" "$(echo "$bytes / 1000000" | bc -l)" "$floor" "$(echo "$report / $floor" | bc -l)" "$dir/report.html"
