import ArgumentParser
import ChoreoMock
import Foundation

/// `choreo mock`: runs the built-in mock provider in the foreground for other processes to use.
struct MockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock",
        abstract: "Run the built-in mock provider (OpenAI, Anthropic and Gemini dialects) until interrupted.",
        discussion: """
            Serves POST /v1/chat/completions, POST /v1/responses (the Responses API's events, no [DONE]), GET /v1/models, POST /v1/messages, \
            POST /v1beta/models/{model}:streamGenerateContent?alt=sse and :generateContent, and GET /mock/stats; \
            embeddings at POST /v1/embeddings and /v1beta/models/{model}:batchEmbedContents (one deterministic \
            unit vector per text, float or base64; a text's tokens are its words). \
            Replies are a pure function of the model and the messages; max_tokens only cuts them. A trailing \
            assistant message is continued (Anthropic; OpenAI with continue_final_message) and must be a prefix \
            of the reply, else 400 (a trailing space is a 400 for Anthropic only). Unknown body parameters are a 400 \
            in each dialect's words, as the real APIs answer, so a rehearsal catches a typo. OpenAI chunks carry \
            service_tier, system_fingerprint and obfuscation (off with stream_options.include_obfuscation=false).

            Faults on demand: header `x-mock-fault: KIND[:AFTER]` (drop, 429, 500, 503, stall, malformed, quota, cut: the whole answer and its usage, then no terminator), \
            or in an OpenAI or Anthropic body `"mock": {"fault": "drop", "after": 3, "times": 1}` ("after": [3, 1]: \
            per attempt). Claude 4.6 and later refuse a prefill with a 400, as the API does. Random faults: --fault-rate, \
            reproducible with --seed; a request gets them on at most its first --max-faults-per-request attempts.

            Examples:
              choreo mock
              choreo mock --port 9000 --chunk-delay-ms 20
              choreo mock --fault-rate 0.2 --faults drop,429,stall --seed 42
              choreo mock --tokens 500 --chunk-delay-ms 0        # firehose for benchmarks
              curl -N localhost:8089/v1/chat/completions -H 'x-mock-fault: drop:3' \\
                -d '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
            """
    )

    @Option(name: .long, help: "Address to listen on.") var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on (0 picks a free one).") var port = 8089
    @Option(name: .customLong("chunk-delay-ms"), help: ArgumentHelp("Pause between streamed chunks.", valueName: "ms"))
    var chunkDelayMs = 0
    @Option(name: .customLong("fault-rate"), help: ArgumentHelp("Share of attempts that get a random fault.", valueName: "0..1"))
    var faultRate = 0.0
    @Option(name: .long, help: ArgumentHelp("Fault kinds random faults pick from.", valueName: "drop,429,500,503,stall,malformed,quota"))
    var faults = MockConfig.defaultFaultKinds.map(\.rawValue).joined(separator: ",")
    @Option(name: .customLong("max-faults-per-request"), help: "Random faults hit at most this many first attempts of a request.")
    var maxFaultsPerRequest = 2
    @Option(name: .long, help: "Seed of the random fault schedule.") var seed: UInt64 = 0
    @Option(name: .customLong("retry-after-ms"), help: ArgumentHelp("What 429 responses ask clients to wait.", valueName: "ms"))
    var retryAfterMs = 200
    @Option(name: .long, help: ArgumentHelp("Every reply has exactly this many tokens (benchmarks).", valueName: "N"))
    var tokens: Int?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard chunkDelayMs >= 0 else { throw ValidationError("--chunk-delay-ms must not be negative") }
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be between 0 and 1") }
        guard maxFaultsPerRequest >= 0 else { throw ValidationError("--max-faults-per-request must not be negative") }
        guard retryAfterMs >= 0 else { throw ValidationError("--retry-after-ms must not be negative") }
        if let tokens, tokens < 0 { throw ValidationError("--tokens must not be negative") }
        _ = try faultKinds()
    }

    private func faultKinds() throws -> [MockFault.Kind] {
        try faults.split(separator: ",").map { name in
            guard let kind = MockFault.Kind(name: String(name)) else {
                throw ValidationError("--faults: unknown kind '\(name)'; use \(MockFault.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
    }

    func run() async throws {
        let config = MockConfig(
            chunkDelay: .milliseconds(chunkDelayMs), faultRate: faultRate, faultKinds: try faultKinds(),
            maxFaultsPerRequest: maxFaultsPerRequest, seed: seed, retryAfterMs: retryAfterMs, fixedTokens: tokens
        )
        let server = try await MockServer.start(host: host, port: port, config: config)
        // SIGINT/SIGTERM is how this command is meant to end, so it exits 0. The trap is in place
        // before the address is printed: whoever waits for that line and then signals (a test, a
        // supervisor) must not hit the moment a signal is ignored and its handler not yet armed.
        let waiting = Task { while true { try await Task.sleep(for: .seconds(3600)) } }
        SignalTrap().install(cancelling: waiting) { _ in }
        let base = server.baseURL
        StandardError.print("""
            mock provider listening on \(base)
              export OPENAI_BASE_URL=\(base)/v1 OPENAI_API_KEY=mock
              export ANTHROPIC_BASE_URL=\(base) ANTHROPIC_API_KEY=mock
              export GEMINI_BASE_URL=\(base)/v1beta GEMINI_API_KEY=mock
            stats: \(base)/mock/stats — stop with Ctrl-C

            """)

        _ = await waiting.result
        let stats = server.stats()
        try await server.shutdown()
        StandardError.print("mock provider stopped: \(stats.requests) requests, \(stats.completed) completed, \(stats.faults) faults")
    }
}
