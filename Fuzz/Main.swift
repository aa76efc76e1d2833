// libFuzzer entry points for every fuzz target (scripts/fuzz.sh, RELIABILITY.md "Fuzzing").
//
// The targets are compiled into one binary together with ChoreoAI's sources (and the job-line
// validator's), as one module named ChoreoAI so that they reach internal types; `$CHOREO_FUZZ_TARGET`
// picks the target. One binary instead of nine: one compile of the sources, not nine.
#if canImport(Glibc)
import Glibc
#endif

/// A fuzz target: called once per input; it crashes (`fatalError`) when an invariant breaks.
typealias FuzzTarget = @Sendable (UnsafeRawBufferPointer) -> Void

let fuzzTargets: [String: FuzzTarget] = [
    "sse": FuzzSSE.run,
    "openai-chunk": FuzzOpenAIChunk.run,
    "anthropic": FuzzDecoders.anthropic,
    "gemini": FuzzDecoders.gemini,
    "responses": FuzzDecoders.responses,
    "job-line": FuzzJobLine.run,
    "job-line-fast": FuzzJobLineFast.run,
    "config": FuzzConfig.run,
    "headers": FuzzHeaders.run,
]

let selectedFuzzTarget: FuzzTarget = {
    let name = getenv("CHOREO_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = fuzzTargets[name] else {
        print("set CHOREO_FUZZ_TARGET to one of: \(fuzzTargets.keys.sorted().joined(separator: ", "))")
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedFuzzTarget(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// Stops the run with a finding: libFuzzer saves the input that got here as a crash file.
func fuzzFinding(_ message: @autoclosure () -> String) -> Never {
    fatalError("fuzz finding: " + message())
}
