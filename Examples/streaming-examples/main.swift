// Runs the streaming guide's patterns (Examples/StreamingExamples, docs/streaming.md).
//
//   swift run streaming-examples              every example
//   swift run streaming-examples BasicStreaming
//   swift run streaming-examples --list
//   swift run streaming-examples --mock ...   against an in-process mock provider (the default
//                                             when OPENAI_API_KEY is not set)
import ChoreoAI
import ChoreoMock
import Foundation
import StreamingExamples

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("streaming-examples: \(message)\n".utf8))
    exit(code)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: streaming-examples [NAME ...] [--list] [--mock]")
    exit(0)
}
if arguments.contains("--list") {
    for example in StreamingExample.all {
        print(example.name.padding(toLength: 26, withPad: " ", startingAt: 0) + example.guideSection)
    }
    exit(0)
}
let unknownFlags = arguments.filter { $0.hasPrefix("-") && $0 != "--mock" }
if !unknownFlags.isEmpty { fail("unknown option \(unknownFlags[0]); try --help", code: 2) }

let names = arguments.filter { !$0.hasPrefix("-") }
let selected: [StreamingExample]
if names.isEmpty {
    // Examples that read standard input would wait at a terminal: run those by name.
    let terminal = isatty(STDIN_FILENO) != 0
    selected = StreamingExample.all.filter { !(terminal && $0.isInteractive) }
} else {
    selected = names.map { name in
        guard let example = StreamingExample.all.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            fail("no example named \(name); --list shows them", code: 2)
        }
        return example
    }
}

let useMock = arguments.contains("--mock") || (ProcessInfo.processInfo.environment["OPENAI_API_KEY"] ?? "").isEmpty
var servers: [MockServer] = []
/// The client an example runs with: the real providers, or the mock set up to show its failure.
@MainActor func client(for example: StreamingExample) async throws -> ChoreoClient {
    guard useMock else { return ChoreoClient() }
    var config = MockConfig(chunkDelay: .milliseconds(15))
    if case .transient? = example.mockFault {
        config.faultRate = 1
        config.faultKinds = [.serverError, .drop]
    }
    let server = try await MockServer.start(config: config)
    servers.append(server)
    var router = ProviderRouter.fromEnvironment([:]).pointed(at: server.baseURL)
    if case .header(let fault)? = example.mockFault {
        for i in router.providers.indices { router.providers[i].extraHeaders.add(name: "x-mock-fault", value: fault) }
    }
    return ChoreoClient(router: router)
}

if useMock { FileHandle.standardError.write(Data("(using the built-in mock provider)\n".utf8)) }
let output = ExampleOutput.standardOutput  // unbuffered, so it must carry every line (no print)
var failed: [String] = []
for example in selected {
    output.line("\n=== \(example.name) — guide: \(example.guideSection) ===")
    do {
        try await example.run(try await client(for: example), output)
    } catch {
        output.line("\n[\(example.name) failed: \(error)]")
        failed.append(example.name)
    }
}
for server in servers { try? await server.shutdown() }
if !failed.isEmpty { fail("failed: \(failed.joined(separator: ", "))", code: 1) }
