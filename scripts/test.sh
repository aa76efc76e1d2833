#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, runs every test.
#
# Tests run in parallel, at most 4 at a time (a whole run: ~2 min on 2 cores, ~4.5 min one by
# one). Each test starts its own servers and `choreo` processes and waits for events, not for
# time (Tests/README.md). The width is Swift Testing's, given to the test bundle directly
# (`swift test` has no way to pass it on): unbounded, 500 tests start their servers at once.
# CHOREO_TEST_WIDTH=1 runs them one by one.
# Then the strict-reader check (scripts/strict-reader, a few seconds), a short fuzzing run
# (scripts/fuzz.sh: ~1.5 min to build, 60 s to run), and the installed binary used without a
# toolchain (scripts/test-install.sh: a release build, several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
"$(swift build --show-bin-path)/ChoreoPackageTests.xctest" --testing-library swift-testing \
    --experimental-maximum-parallelization-width "${CHOREO_TEST_WIDTH:-4}"
# Every line of a mixed run's `openai` export loads with a strict reader of the Batch format.
scripts/strict-reader/run.sh
# The parsers under libFuzzer for about a minute: one line per target; a crash fails the run.
scripts/fuzz.sh 60
# scripts/install.sh into a scratch prefix: runs without Swift, `man choreo` renders.
scripts/test-install.sh
