#!/usr/bin/env bash
# Installs choreo under PREFIX (default /usr/local):
#   PREFIX/bin/choreo                 a release build with the Swift runtime linked in
#                                     (--static-swift-stdlib): it runs where no Swift toolchain is
#                                     installed; libcurl, libsqlite3 and libedit come from the system
#   PREFIX/bin/choreo-cron.sh         the cron wrapper, next to the binary it runs (README, cron)
#   PREFIX/share/man/man1/choreo.1    the man page (argument-parser's generate-manual plugin)
#   PREFIX/share/bash-completion/completions/choreo, …/zsh/site-functions/_choreo,
#   …/fish/vendor_completions.d/choreo.fish   shell completions (choreo --generate-completion-script)
#
#   scripts/install.sh [PREFIX]
#
# `choreo --version` names the commit it was built from. The release build takes several minutes
# on a small machine. The man page is generated from a debug build (the help text is the same;
# the plugin builds the whole package, and a debug build is usually there already).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
scripts/setup.sh
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then commit="$commit-dirty"; fi
# BuildInfo.c includes the stamp when it exists. A build made without it (the demo's) recorded no
# dependency on it, so writing it alone rebuilt nothing and the binary said "commit unknown":
# touching BuildInfo.c, with the stamp and again once it is gone, recompiles that one file.
stamp=Sources/CBuildInfo/commit.h
unstamp() { rm -f "$stamp"; touch Sources/CBuildInfo/BuildInfo.c; }
trap unstamp EXIT
printf '#define CHOREO_COMMIT "%s"\n' "$commit" >"$stamp"
touch Sources/CBuildInfo/BuildInfo.c
binary="$(scripts/build-release.sh)"
unstamp
swift package plugin generate-manual --configuration debug >&2
manual=".build/plugins/GenerateManual/outputs/choreo/choreo.1"
# The generator leaves blank lines between paragraphs, which mdoc warns about: make them
# paragraph breaks.
sed -i 's/^$/.Pp/' "$manual"

install -d "$prefix/bin" "$prefix/share/man/man1" "$prefix/share/bash-completion/completions" \
  "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
install -m 755 "$binary" "$prefix/bin/choreo"
install -m 755 scripts/cron/choreo-cron.sh "$prefix/bin/choreo-cron.sh"
install -m 644 "$manual" "$prefix/share/man/man1/choreo.1"
"$prefix/bin/choreo" --generate-completion-script bash >"$prefix/share/bash-completion/completions/choreo"
"$prefix/bin/choreo" --generate-completion-script zsh >"$prefix/share/zsh/site-functions/_choreo"
"$prefix/bin/choreo" --generate-completion-script fish >"$prefix/share/fish/vendor_completions.d/choreo.fish"
echo "installed $("$prefix/bin/choreo" --version) in $prefix" >&2
