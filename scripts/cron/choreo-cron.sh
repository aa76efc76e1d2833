#!/usr/bin/env bash
# Runs Choreo from cron: picks up every pending job (and the jobs of a runner that died), stops
# starting work in time to end before the next slot, and logs JSON lines for a log shipper.
#
# Overlapping runs are safe (jobs are leased to one runner), so no lock file is needed; a second
# run simply takes the jobs the first one has not leased.
#
# Configure with environment variables (set them in the crontab line or in $CHOREO_ENV_FILE):
#   CHOREO_DB         the results database (required): a SQLite file, or a postgres:// URL (keep the
#                     password out of it: PGPASSWORD in $CHOREO_ENV_FILE, or ~/.pgpass)
#   CHOREO_BIN        the choreo binary (default: choreo next to this script, else on PATH, else
#                     in /usr/local/bin: cron's PATH is only /usr/bin:/bin)
#   CHOREO_DEADLINE   how long a run may take (default 55m for an hourly cron), or when it must end (06:30)
#   CHOREO_LOG        where log lines go (default: $CHOREO_DB.log; required with a postgres:// URL)
#   CHOREO_ENV_FILE   a file of KEY=value lines with the API keys (chmod 600); never pass keys on the command line
#   CHOREO_REPORT     optional: after each run, write `choreo report` of the newest batch to this
#                     path (one offline HTML page); a report that cannot be written is mailed, and
#                     does not change the run's exit code
set -u
: "${CHOREO_DB:?set CHOREO_DB to the results database}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${CHOREO_BIN:-}" ]; then bin="$CHOREO_BIN"
elif [ -x "$here/choreo" ]; then bin="$here/choreo"
elif command -v choreo >/dev/null; then bin="$(command -v choreo)"
elif [ -x /usr/local/bin/choreo ]; then bin=/usr/local/bin/choreo
else echo "choreo-cron: no choreo binary next to $0, on PATH ($PATH) or in /usr/local/bin; set CHOREO_BIN" >&2; exit 127
fi
deadline="${CHOREO_DEADLINE:-55m}"
# The database as mail and messages show it: a URL's password (if one was put there) never is.
shown="$(printf '%s' "$CHOREO_DB" | sed -E 's#^([a-z]+://[^:/@]*):[^@]*@#\1:***@#')"
case "$CHOREO_DB" in
  postgres://*|postgresql://*)
    [ -n "${CHOREO_LOG:-}" ] || { echo "choreo-cron: set CHOREO_LOG (a file for the log lines) when CHOREO_DB is a PostgreSQL URL ($shown)" >&2; exit 2; } ;;
esac
log="${CHOREO_LOG:-$CHOREO_DB.log}"
if [ -n "${CHOREO_ENV_FILE:-}" ]; then
  set -a; . "$CHOREO_ENV_FILE"; set +a
fi
before=$({ wc -c <"$log"; } 2>/dev/null || echo 0)
"$bin" run --db "$CHOREO_DB" --deadline "$deadline" --log-format json --quiet "$@" >>"$log" 2>&1
code=$?
# This run's lines that leave jobs pending for a provider that did not answer (a wrong base URL,
# an outage, a spent daily quota): the next run continues them, but a person should know.
unanswered() {
  tail -c +"$((before + 1))" "$log" | grep '"kind":"provider_unreachable"' | grep 'jobs left pending' \
    | sed -E 's/.*"message":"(([^"\\]|\\.)*)".*/choreo: \1/; s/\\"/"/g'
}
case $code in
  0) ;;                                      # every job succeeded
  3) unanswered >&2 ;;                       # work left: the next run continues it (the deadline: silently)
  1) echo "choreo: some jobs failed for good in $shown (choreo status)" >&2 ;;
  130|143) echo "choreo: interrupted (exit $code); the next run continues" >&2 ;;
  *) echo "choreo: run failed with exit $code; see $log" >&2 ;;
esac
if [ -n "${CHOREO_REPORT:-}" ]; then
  "$bin" report --db "$CHOREO_DB" --output "$CHOREO_REPORT" >>"$log" 2>&1 \
    || echo "choreo: could not write the report $CHOREO_REPORT; see $log" >&2
fi
exit $code
