#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, runs every test.
#
# Tests run one at a time (--no-parallel): many of them start real servers and `choreo`
# processes and assert on timing (stalls, leases, cancellation, kills); run all at once on a
# 2-core machine, they starve each other into spurious stalls. Serial, the suite takes ~1 min.
# Then the strict-reader check (scripts/strict-reader, a few seconds), a short fuzzing run
# (scripts/fuzz.sh: ~1.5 min to build, 60 s to run), and the installed binary used without a
# toolchain (scripts/test-install.sh: a release build, several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build --no-parallel
# Every line of a mixed run's `openai` export loads with a strict reader of the Batch format.
scripts/strict-reader/run.sh
# The parsers under libFuzzer for about a minute: one line per target; a crash fails the run.
scripts/fuzz.sh 60
# scripts/install.sh into a scratch prefix: runs without Swift, `man choreo` renders.
scripts/test-install.sh
