#!/usr/bin/env bash
# Builds the release `choreo` and prints the binary's path: the one way the scripts that need a
# release binary (demo.sh, install.sh, report-screenshot.sh) build it. With flags of their own
# they shared `.build/release` and each undid the other's build, so the next one started over
# (minutes on a small machine). --static-swift-stdlib links the Swift runtime in, so that the
# installed binary runs where no Swift toolchain is; the others lose nothing by it.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product choreo --static-swift-stdlib >&2
echo "$(swift build -c release --static-swift-stdlib --show-bin-path)/choreo"
