#!/usr/bin/env bash
# Instruction counts of one choreo command under callgrind (stable on a busy machine, unlike time).
#   scripts/bench/callgrind.sh OUT CHOREO_BINARY ARGS...      e.g.
#   OPENAI_BASE_URL=http://127.0.0.1:18080/k256o/v1 OPENAI_API_KEY=dummy \
#     scripts/bench/callgrind.sh /tmp/cg.out .build-bench/release/choreo run --db c.db --concurrency 64
#   callgrind_annotate --inclusive=yes /tmp/cg.out | head -60
# Debian 12's valgrind 3.19 cannot read Swift 6's DWARF 5 ("Possibly corrupted debuginfo file"),
# so the binary is run from a copy without debug info (function names come from the symbol
# table), and crashes in libdispatch's sigsuspend without sigsuspend_shim.c.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT CHOREO_BINARY ARGS..." >&2; exit 2; }
OUT=$1; BIN=$2; shift 2
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
T=$(mktemp -d /tmp/choreo-callgrind.XXXXXX)
trap 'rm -rf "$T"' EXIT
gcc -O2 -shared -fPIC -o "$T/shim.so" "$(dirname "$0")/sigsuspend_shim.c"
objcopy --strip-debug "$BIN" "$T/choreo"
LD_PRELOAD="$T/shim.so" valgrind --tool=callgrind --callgrind-out-file="$OUT" "$T/choreo" "$@" 2> "$T/valgrind.log" \
  || { tail -20 "$T/valgrind.log" >&2; exit 1; }
grep -E 'Collected' "$T/valgrind.log" >&2
