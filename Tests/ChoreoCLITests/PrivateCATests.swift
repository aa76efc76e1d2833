import ChoreoAI
import ChoreoMock
import ChoreoTesting
import Foundation
import Testing

/// A provider behind a private certificate authority (a gateway, a vLLM box with an internal
/// certificate), served by a real nginx over TLS: trusted through `--cacert` or `ca_file` in
/// choreo.json, refused as `tls` without, and a CA file that cannot be used is an error before
/// any request.
@Suite("Private certificate authorities", .enabled(if: TLSServer.unavailable == nil, "\(TLSServer.unavailable ?? "")"))
struct PrivateCATests {
    static let stream = """
        data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"over TLS"},"finish_reason":null}]}

        data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

        data: [DONE]


        """

    @Test func askTrustsTheServerThroughCacert() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let r = try await ChoreoBinary.run(["ask", "--cacert", server.caFile, "hi"], environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"])
            #expect(r.status == 0, "\(r.output)")
            #expect(r.stdout == "over TLS\n")
        }
    }

    /// `ca_file` is relative to the configuration file, not to where the run starts (cron).
    @Test func aRunTrustsTheCAFileItsProviderNamesInChoreoJSON() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let fixture = try Fixture(count: 20)
            let config = fixture.directory.appendingPathComponent("config")
            try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: server.caFile, toPath: config.appendingPathComponent("internal-ca.pem").path)
            try #"{"providers": [{"name": "gateway", "kind": "openai", "base_url": "\#(server.baseURL)/v1", "models": ["*"], "ca_file": "internal-ca.pem"}]}"#
                .write(to: config.appendingPathComponent("choreo.json"), atomically: true, encoding: .utf8)
            let r = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--config", config.appendingPathComponent("choreo.json").path, "--quiet"],
                                               workingDirectory: URL(fileURLWithPath: "/"))
            #expect(r.status == 0, "\(r.output)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND output = 'over TLS'") == 20)
            try await eventually("nginx to log 20 requests") { server.requests.count == 20 }
        }
    }

    /// An embeddings line goes to the same server as a chat line, so it trusts the same CA. Its
    /// request was built without the provider's `ca_file`: every attempt failed as `tls` and the
    /// run gave the provider up, where its chat lines went through.
    @Test func embeddingsTrustTheCAFileToo() async throws {
        let vectors = #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-0.5,0.75,1.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#
        try await withTLSServer(responseBody: vectors) { server in
            let fixture = try Fixture(lines: [["custom_id": "vector", "method": "POST", "url": "/v1/embeddings",
                                               "body": ["model": "text-embedding-3-small", "input": "over TLS"]]])
            let r = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--cacert", server.caFile, "--first-answer-limit", "1s", "--quiet"],
                                               environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"])
            #expect(r.status == 0, "\(r.output)")
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND embedding IS NOT NULL") == 1)
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'tls'") == 0)
        }
    }

    /// Without the CA the handshake fails on every attempt, each recorded as `tls`, and the run
    /// gives up on the provider as unreachable: no job fails for good over it. Its last line says
    /// the certificate is not trusted and what fixes that: "run again once it answers" would not.
    @Test func withoutTheCAFileARunsAttemptsFailAsTLS() async throws {
        try await withTLSServer(responseBody: Self.stream) { server in
            let fixture = try Fixture(count: 5)
            let r = try await ChoreoBinary.run(["run", "--db", fixture.databasePath, "--first-answer-limit", "1s", "--quiet"],
                                               environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"])
            #expect(r.status == 3, "\(r.output)")
            let origin = server.baseURL.replacingOccurrences(of: "https://", with: "")
            #expect(r.stderr.contains("provider openai never answered in this run (certificate not trusted at \(origin)): 5 jobs left "
                                      + "pending; this machine does not trust its certificate (a private CA, or a proxy that inspects TLS): "
                                      + "give the CA with --cacert FILE or ca_file in choreo.json"), "\(r.stderr)")
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind = 'tls'") >= 1)
            #expect(try fixture.scalar("SELECT count(*) FROM attempts WHERE error_kind IS NOT 'tls'") == 0)
            #expect(try fixture.scalar("SELECT count(*) FROM jobs WHERE state = 'pending'") == 5)
            #expect(server.requests.isEmpty)
        }
    }

    /// A wrong path is the user's to fix, once, not a TLS failure of every request.
    @Test func anUnusableCacertIsAnErrorNamingTheFileBeforeAnyRequest() async throws {
        try await withMockServer { server in
            let scratch = TemporaryDirectory()
            let notPEM = scratch.write("ca.der", bytes: [0x30, 0x82, 0x01, 0x0A])
            for (path, problem) in [(scratch.file("missing.pem"), "no such file"), (notPEM, "holds no PEM certificate")] {
                let r = try await ChoreoBinary.run(["ask", "--cacert", path, "hi"], environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"])
                #expect(r.status == 2, "\(r.output)")
                #expect(r.stderr.contains("--cacert \(path): \(problem)"), "\(r.stderr)")
            }
            #expect(server.stats().requests == 0)
        }
    }
}
