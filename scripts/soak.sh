#!/usr/bin/env bash
# The long crash-and-fault soak (RELIABILITY.md, "Soak"): the test CI runs small
# (Tests/ChoreoCLITests/CrashSoakTests.swift), at a size of your choice. The real `choreo` binary
# runs a batch across the OpenAI, Anthropic and Gemini formats against a mock that injects faults
# (drops, 429s, 500s, stalls, malformed chunks) and is SIGKILLed again and again at moments picked
# by what it is doing; every job must end with exactly the uninterrupted answer and token budget,
# once.
#
#   scripts/soak.sh [JOBS] [KILLS] [SEED]    # default: 3000 jobs, 20 kills, a random seed
#
# It prints one `soak:` line with the seed and what happened. A failure names the seed: the same
# seed replays the same fault schedule and kill moments (the moments are events, so timing still
# varies a little). On a 2-core machine: about 70 s at the default size, 4 minutes for 10,000 jobs,
# 8.5 minutes for 20,000 (plus the build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CHOREO_SOAK_JOBS="${1:-3000}" CHOREO_SOAK_KILLS="${2:-20}"
if [[ -n "${3:-}" ]]; then export CHOREO_SOAK_SEED="$3"; fi
swift build --build-tests >&2
swift test --skip-build --no-parallel --filter CrashSoakTests
