#!/usr/bin/env bash
# Installs choreo into a scratch prefix with scripts/install.sh and uses it as someone without
# Swift would: the binary links no Swift runtime from the toolchain and runs with no toolchain on
# PATH (and, where the kernel lets us, with the toolchain's directory hidden entirely); a batch
# runs against the built-in mock; `man choreo` renders; the completions load. A script, not a
# unit test: the release build takes minutes. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
prefix="$(mktemp -d "${TMPDIR:-/tmp}/choreo-install.XXXXXX")"
work="$(mktemp -d "${TMPDIR:-/tmp}/choreo-install-work.XXXXXX")"
trap 'rm -rf "$prefix" "$work"' EXIT
# The README's order: the demo's plain release build first, then the install, whose build must
# still name the commit (it said "commit unknown" when the demo had built first).
scripts/build-release.sh >/dev/null
scripts/install.sh "$prefix"
bin="$prefix/bin/choreo"
# And a plain build after the install claims no commit it was not built from.
plain_version="$("$(scripts/build-release.sh)" --version)"
grep -q '(commit unknown' <<<"$plain_version" || fail "a plain build after the install said: $plain_version"
toolchain="$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")"   # …/usr

# 1. Nothing is loaded from the toolchain.
libs="$(ldd "$bin")"
if grep -E "libswift|libFoundation|libdispatch|libBlocksRuntime|$toolchain" <<<"$libs"; then
  fail "the installed binary loads the Swift runtime from the toolchain"
fi

# 2. A user's shell with no toolchain: version (with the commit), then a whole batch on the mock.
bare=(env -i "PATH=/usr/bin:/bin" "HOME=$work" "LANG=C.UTF-8")
"${bare[@]}" sh -c 'command -v swift' >/dev/null && fail "swift is on the bare PATH; the test proves nothing"
version="$("${bare[@]}" "$bin" --version)"
grep -Eq '^choreo [0-9.]+ \(commit [0-9a-f]{12}(-dirty)?\)$' <<<"$version" || fail "--version said: $version"
batch_run() {
  "$1" "$bin" submit jobs/example-batch.jsonl --db "$work/$2.sqlite" >/dev/null
  "$1" "$bin" run --db "$work/$2.sqlite" --mock --mock-chunk-delay-ms 1 --quiet
  "$1" "$bin" sql --db "$work/$2.sqlite" --json "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'" | grep -qx '{"n":20}' \
    || fail "the batch did not succeed ($2)"
}
plain() { "${bare[@]}" "$@"; }
batch_run plain bare
# The README's demo run, with its injected faults, on this release build, 5 times: what the debug
# tests cannot see of the optimizer (RELIABILITY.md, "The lock": a release build once stopped
# here in 2 runs of 3).
for i in 1 2 3 4 5; do
  CHOREO_DEMO_BINARY="$bin" scripts/demo.sh >"$work/demo.out" 2>"$work/demo.err" \
    || fail "demo run $i: $(grep -v '^WARNING' "$work/demo.err" | tail -20)"
  grep -q '20 total: 0 pending, 0 running, 20 succeeded' "$work/demo.out" || fail "demo run $i did not finish its 20 jobs: $(cat "$work/demo.out")"
done
# The toolchain hidden under an empty directory, in a mount namespace of our own (needs root or
# user namespaces; skipped, with a note, where the kernel refuses).
if unshare --mount --propagation private true 2>/dev/null; then
  hidden() { unshare --mount --propagation private sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$toolchain" "${bare[@]}" "$@"; }
  hidden sh -c "[ ! -e '$toolchain/bin/swift' ]" || fail "could not hide the toolchain"
  batch_run hidden hidden
  echo "test-install: ran with $toolchain hidden" >&2
else
  echo "test-install: note: no mount namespace here; checked with ldd and a bare PATH only" >&2
fi

# 3. The man page renders, from the prefix's man directory, without warnings.
page="$("${bare[@]}" MANPATH="$prefix/share/man" MANWIDTH=80 man --warnings -P cat choreo 2>"$work/man.err")" || fail "man choreo failed: $(cat "$work/man.err")"
grep -q "choreo" <<<"$page" && grep -q "SUBCOMMANDS\|submit" <<<"$page" || fail "man choreo printed: $page"
[ ! -s "$work/man.err" ] || fail "man choreo warned: $(cat "$work/man.err")"

# 4. The completions load in their shells (bash here; zsh and fish when installed).
bash -c "source '$prefix/share/bash-completion/completions/choreo' && complete -p choreo" >/dev/null || fail "bash completion"
[ -s "$prefix/share/zsh/site-functions/_choreo" ] || fail "no zsh completion"
[ -s "$prefix/share/fish/vendor_completions.d/choreo.fish" ] || fail "no fish completion"
[ -x "$prefix/bin/choreo-cron.sh" ] || fail "no cron wrapper"
echo "test-install: ok ($version)" >&2
