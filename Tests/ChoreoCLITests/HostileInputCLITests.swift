import ChoreoAI
import ChoreoTesting
import ChoreoBatch
import Foundation
import Testing

/// The real `choreo` binary against hostile queries and stored text (RELIABILITY.md, "Hostile input").
@Suite(.serialized) struct HostileInputCLITests {
    /// Runs `choreo` on a pseudo-terminal (util-linux `script`), as a person at a terminal would;
    /// returns the bytes the terminal received.
    func choreoOnATerminal(_ arguments: [String], in directory: URL) async throws -> [UInt8] {
        let command = ([ChoreoBinary.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", command, "/dev/null"]
        let out = directory.appendingPathComponent("tty-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        #expect(try await ChoreoBinary.wait(p, timeout: 60) == 0)
        return Array(try Data(contentsOf: out))
    }

    static let evilID = "evil\u{1B}]0;pwned\u{07}\u{1B}[2J"

    @Test func vacuumIntoAndAttachAreRefusedAndCreateNoFile() async throws {
        let fixture = try Fixture(count: 1)
        let copy = fixture.directory.appendingPathComponent("copy.db").path
        let vacuum = try await ChoreoBinary.run(["sql", "VACUUM INTO '\(copy)'", "--db", fixture.databasePath], timeout: 60)
        #expect(vacuum.status == 1)
        #expect(vacuum.stderr.hasPrefix("choreo: the query would write (") && vacuum.stderr.contains("choreo sql only reads"), "\(vacuum.stderr)")
        #expect(!FileManager.default.fileExists(atPath: copy))

        let other = fixture.directory.appendingPathComponent("other.db").path
        let attach = try await ChoreoBinary.run(["sql", "ATTACH '\(other)' AS o", "--db", fixture.databasePath], timeout: 60)
        #expect(attach.status == 1)
        #expect(attach.stderr.contains("choreo sql only reads"), "\(attach.stderr)")
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func aQueryThatNeverEndsIsStoppedWithAClearMessage() async throws {
        let fixture = try Fixture(count: 1)
        let endless = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
        let result = try await ChoreoBinary.run(["sql", endless, "--timeout", "300ms", "--db", fixture.databasePath], timeout: 60)
        #expect(result.status == 1)
        #expect(result.stderr.contains("stopped after running 0.3s"), "\(result.stderr)")
        #expect(result.stderr.contains("--timeout"))
        let bad = try await ChoreoBinary.run(["sql", "SELECT 1", "--timeout", "soon", "--db", fixture.databasePath], timeout: 60)
        #expect(bad.status == 2 && bad.stderr.contains("--timeout"), "\(bad.stderr)")
    }

    /// A query's error is one line that says it is choreo's, as every other command's are.
    @Test func aQuerysErrorIsChoreosLine() async throws {
        let fixture = try Fixture(count: 1)
        let result = try await ChoreoBinary.run(["sql", "SELEC 1", "--db", fixture.databasePath], timeout: 60)
        #expect(result.status == 1)
        #expect(result.stderr == "choreo: SQLite error 1: near \"SELEC\": syntax error — in `SELEC 1`\n", "\(result.stderr)")
    }

    @Test func showAndTextResultsEscapeControlCharactersOnATerminalOnly() async throws {
        let fixture = try Fixture(lines: [["custom_id": .string(Self.evilID), "model": "gpt-4o-mini", "messages": [["role": "user", "content": "hi"]]]])
        let show = try await choreoOnATerminal(["show", Self.evilID, "--db", fixture.databasePath], in: fixture.directory)
        let results = try await choreoOnATerminal(["results", fixture.batchID, "--format", "text", "--db", fixture.databasePath], in: fixture.directory)
        for (name, bytes) in [("show", show), ("results", results)] {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!bytes.contains(0x1B) && !bytes.contains(0x07), "\(name) sent raw control characters to the terminal")
            #expect(text.contains(#"evil\x1B]0;pwned\x07\x1B[2J"#), "\(name): \(text)")
        }
        // To a file or a pipe, the bytes are the stored ones.
        let piped = try await ChoreoBinary.run(["results", fixture.batchID, "--format", "text", "--db", fixture.databasePath], timeout: 60)
        #expect(piped.stdout.contains(Self.evilID))
    }

    @Test func aChoreoProcessCannotDumpCore() async throws {
        let scratch = TemporaryDirectory("choreo-core")
        let directory = scratch.url
        let mock = try ChoreoBinary.start(["mock", "--port", "0"], directory: directory)
        defer { if mock.isRunning { mock.terminate() } }
        // The mock prints its address once main has run (and so has disabled core dumps).
        let deadline = Date().addingTimeInterval(60)
        func log() -> String {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return files.compactMap { try? String(contentsOfFile: directory.appendingPathComponent($0).path, encoding: .utf8) }.joined()
        }
        while !log().contains("listening"), mock.isRunning, Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(log().contains("listening"))
        let limits = try String(contentsOfFile: "/proc/\(mock.processIdentifier)/limits", encoding: .utf8)
        let core = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") })
        #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(core)")
        mock.terminate()
        _ = try await ChoreoBinary.wait(mock, timeout: 30)
    }
}
