#!/usr/bin/env bash
# Fuzzes the parsers that read what the network and users send (RELIABILITY.md, "Fuzzing").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Builds one libFuzzer binary (.build-fuzz/choreo-fuzz: ChoreoAI's sources, the job-line
# validator and Fuzz/*.swift, with -sanitize=fuzzer,address) and runs each target for its share
# of SECONDS (default 60 in all), starting from the seeds in Fuzz/corpus/TARGET (real stream
# shapes) plus what earlier runs found (.build-fuzz/corpus/TARGET). Prints one line per target.
# Exits 1 when a target crashed (the input is kept under .build-fuzz/crashes/: turn it into a
# regression test); exits 0 with a "skipped" line when the toolchain cannot build a fuzzer.
# Leak detection is off: the Swift runtime's caches look like leaks, and leaks are not what
# these targets look for (crashes, sanitizer errors and broken invariants are).
set -euo pipefail
cd "$(dirname "$0")/.."

total=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse openai-chunk anthropic gemini responses job-line job-line-fast config headers)
out=.build-fuzz
mkdir -p "$out/crashes"

# Is libFuzzer there at all? A toolchain without it is not a failure of the code.
printf '@_cdecl("LLVMFuzzerTestOneInput") public func f(_ d: UnsafePointer<UInt8>?, _ n: Int) -> CInt { 0 }\n' > "$out/probe.swift"
if ! swiftc -sanitize=fuzzer -parse-as-library "$out/probe.swift" -o "$out/probe" >"$out/probe.log" 2>&1; then
    echo "fuzz: skipped: this Swift toolchain cannot build libFuzzer targets (see $out/probe.log)"
    exit 0
fi

binary="$out/choreo-fuzz"
sources=(Sources/ChoreoLocking/*.swift Sources/ChoreoHTTP/*.swift Sources/ChoreoAI/*/*.swift Sources/ChoreoBatch/Jobs/JobLineValidator.swift Sources/ChoreoBatch/Jobs/JobLineValidator+Responses.swift Sources/ChoreoBatch/Jobs/JobLineValidator+FastPath.swift Sources/ChoreoBatch/Jobs/JobEndpoint.swift Sources/ChoreoBatch/Jobs/JobFileError.swift Fuzz/*.swift)
if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" Sources/CCurlShim Sources/CChoreoSystem scripts/fuzz.sh -newer "$binary" 2>/dev/null | head -1)" ]; then
    echo "fuzz: building $binary"
    for shim in CCurlShim CChoreoSystem; do
        mkdir -p "$out/modules/$shim"
        printf 'module %s {\n    header "%s/Sources/%s/include/%s.h"\n    export *\n}\n' "$shim" "$PWD" "$shim" "$shim" > "$out/modules/$shim/module.modulemap"
        clang -c -O1 -I "Sources/$shim/include" "Sources/$shim/$shim.c" -o "$out/$shim.o"
    done
    # One module named ChoreoAI (the lock's and the transport's sources with it), so the targets
    # reach internal types: the copies lose their `import ChoreoLocking` / `import ChoreoHTTP` /
    # `import ChoreoAI` lines, which would name modules that do not exist here or the module itself.
    rm -rf "$out/src" && mkdir -p "$out/src"
    for f in "${sources[@]}"; do
        sed -E -e '/^(public )?import (ChoreoLocking|ChoreoHTTP|ChoreoAI)$/d' "$f" > "$out/src/$(echo "$f" | tr '/' '_')"
    done
    rm -f "$binary"
    # The upcoming features Package.swift gives these modules: the sources are written for them
    # (a `package import` beside plain imports is an error without InternalImportsByDefault).
    swiftc -module-name ChoreoAI -package-name Choreo -parse-as-library -swift-version 6 -O -wmo -suppress-warnings \
        -enable-upcoming-feature InternalImportsByDefault -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility \
        -sanitize=fuzzer,address -I Sources/CCurl -I "$out/modules/CCurlShim" -I "$out/modules/CChoreoSystem" \
        "$out"/src/*.swift "$out/CCurlShim.o" "$out/CChoreoSystem.o" -lcurl -o "$binary" >"$out/build.log" 2>&1 || true
    grep -v "Cannot export local symbol" "$out/build.log" || true
    [ -x "$binary" ] || { echo "fuzz: FAILED to build $binary (see $out/build.log)"; exit 1; }
fi

per=$(( total / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1
failed=0
crashed=0
for target in "${targets[@]}"; do
    corpus="$out/corpus/$target"
    mkdir -p "$corpus"
    log="$out/$target.log"
    status=0
    CHOREO_FUZZ_TARGET="$target" "$binary" -max_total_time="$per" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
        -print_final_stats=1 -artifact_prefix="$out/crashes/$target-" "$corpus" "Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$status" -eq 0 ]; then
        echo "fuzz $target: ${runs:-?} executions in ${per}s, no crash"
    else
        failed=1
        crashed=$((crashed + 1))
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "fuzz $target: CRASH after ${runs:-?} executions; input ${artifact:-unknown}; log $log"
        grep -m3 -E "fuzz finding|Fatal error|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" | sed 's/^/    /' || true
    fi
done
echo "fuzz: $(( ${#targets[@]} - crashed )) passed, $crashed failed"
exit "$failed"
