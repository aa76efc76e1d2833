# Sourced by the PostgreSQL benchmarks (pg-claims.sh, pg-firehose.sh): a throwaway cluster, as the
# tests start one (Tests/ChoreoTesting/PostgresServer.swift). initdb into a temporary folder (as
# the `postgres` user when root), a unix socket only, fsync on as a real server runs; stopped and
# deleted by `pg_cluster_stop` (call it from the script's EXIT trap).
#   pg_cluster_start "-c max_connections=300 …"   then: PSQL (an array), url NAME, pg_cpu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "needs PostgreSQL (apt-get install postgresql)" >&2; exit 2; }
PG=""
PG_AS=()

pg() { "${PG_AS[@]}" "$PGBIN/$1" "${@:2}"; }

pg_cluster_start() {  # pg_cluster_start SERVER_OPTIONS
  # The cluster's folder is short: a unix socket's path is limited to about 100 bytes.
  PG=$(mktemp -d /tmp/choreo-pgb.XXXXXX)
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG"; PG_AS=(/usr/sbin/runuser -u postgres --); fi
  pg initdb -D "$PG/data" -A trust -U choreo -E UTF8 --locale=C >/dev/null
  pg pg_ctl -D "$PG/data" -l "$PG/server.log" -w -t 60 -o "-k $PG -h '' $1" start >/dev/null
  PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG" -U choreo)
  POSTMASTER=$(head -1 "$PG/data/postmaster.pid")
}

pg_cluster_stop() {
  [ -n "$PG" ] || return 0
  pg pg_ctl -D "$PG/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG"
}

url() { echo "postgres://choreo@/$1?host=$PG"; }

# The server's CPU seconds so far: the postmaster's own and its reaped children's (backends that
# have exited), plus every live child's. /proc times are in clock ticks.
pg_cpu() {
  local tck; tck=$(getconf CLK_TCK)
  { awk '{print $14+$15+$16+$17}' "/proc/$POSTMASTER/stat"
    for p in $(ps -o pid= --ppid "$POSTMASTER"); do
      awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || true
    done; } | awk -v t="$tck" '{s+=$1} END{printf "%.2f", s/t}'
}
