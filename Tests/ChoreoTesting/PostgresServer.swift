public import ChoreoPostgres
import CChoreoSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The throwaway PostgreSQL cluster of one test process (issue 15): started on first use with
/// `initdb` into a private temporary folder and `pg_ctl start`, listening only on a unix socket in
/// that folder (no TCP port to collide with anything), and stopped and deleted when the process
/// exits. Each test gets a database of its own (`createDatabase`, `withPostgresDatabase`).
///
/// `initdb` and `postgres` refuse to run as root (CI runs as root): then the cluster belongs to
/// the `postgres` user that Debian's package creates, and its commands run through `runuser`.
/// Speed over durability: `fsync` off, as nothing in a test outlives the process.
public final class PostgresServer: Sendable {
    /// The folder holding the cluster, its log and its socket.
    public let root: String
    let binaries: String
    /// The account the server runs as (nil: this process's own).
    let account: String?

    /// The process's cluster, started on first use; the error says why it could not start.
    public static let shared: Result<PostgresServer, PostgresServerError> = {
        do { return .success(try PostgresServer.start()) } catch {
            return .failure(error as? PostgresServerError ?? PostgresServerError(message: "\(error)"))
        }
    }()

    /// Why tests that need PostgreSQL are skipped here, or nil when they run. Only a machine where
    /// PostgreSQL is not installed skips them, and never CI (`CI` set): there they run, and fail
    /// with the reason.
    public static let skipReason: String? = {
        guard ProcessInfo.processInfo.environment["CI"] == nil, findBinaries() == nil else { return nil }
        return skipReasonText
    }()

    /// A URL to `database` on this cluster, through its socket.
    public func url(database: String) -> String { "postgres://choreo@/\(database)?host=\(root)" }

    /// A new, empty database for one test, dropped when the value is released.
    public func createDatabase() throws -> PostgresTestDatabase {
        let name = "test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        let admin = try PostgresConnection(url: PostgresURL(url(database: "postgres")))
        // FILE_COPY copies the template's files (fast with fsync off) instead of writing them all
        // to the WAL, PostgreSQL 15's default.
        try admin.execute("CREATE DATABASE \(name)" + (admin.serverVersion >= 150000 ? " STRATEGY = FILE_COPY" : ""))
        return PostgresTestDatabase(name: name, url: url(database: name), server: self)
    }

    init(root: String, binaries: String, account: String?) {
        self.root = root
        self.binaries = binaries
        self.account = account
    }

    // MARK: Starting and stopping

    /// The folder of `initdb`, `pg_ctl` and `postgres`: the newest Debian version, else `PATH`'s.
    static func findBinaries() -> String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "/usr/lib/postgresql/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return bin }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/initdb"), FileManager.default.isExecutableFile(atPath: "\(dir)/pg_ctl") {
                return String(dir)
            }
        }
        return nil
    }

    /// The folders of clusters live here, named after the process that owns them.
    static let parent = "/tmp"
    static let prefix = "choreo-pg-"

    static func start() throws -> PostgresServer {
        guard let binaries = findBinaries() else { throw PostgresServerError(message: skipReasonText) }
        removeOrphans()
        // A short path: a unix socket's path is limited to about 100 bytes.
        let root = "\(parent)/\(prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var account: String?
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            if geteuid() == 0 {
                guard let user = getpwnam("postgres") else {
                    throw PostgresServerError(message: "running as root, and there is no `postgres` user for initdb to run as")
                }
                chown(root, user.pointee.pw_uid, user.pointee.pw_gid)
                account = "postgres"
            }
        } catch let error as PostgresServerError {
            throw error
        } catch {
            throw PostgresServerError(message: "cannot create \(root): \(error)")
        }
        let server = PostgresServer(root: root, binaries: binaries, account: account)
        do {
            try server.command("initdb", ["-D", "\(root)/data", "-A", "trust", "-U", "choreo", "-E", "UTF8", "--locale=C", "--no-sync"])
            try server.command("pg_ctl", ["-D", "\(root)/data", "-l", "\(root)/server.log", "-w", "-t", "60", "-o",
                                          "-k \(root) -h '' -F -c full_page_writes=off -c max_connections=300", "start"])
        } catch {
            server.stop()
            throw error
        }
        serverToStop = (root, server.stopCommand)
        atexit { PostgresServer.stopAtExit() }
        return server
    }

    /// What `atexit` stops: the cluster's folder and the command that stops it.
    nonisolated(unsafe) private static var serverToStop: (root: String, command: [String])?

    private static func stopAtExit() {
        guard let (root, command) = serverToStop else { return }
        _ = try? run(command, log: nil)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// `pg_ctl stop` at once: nothing in a test cluster needs a clean shutdown.
    var stopCommand: [String] { commandLine("pg_ctl", ["-D", "\(root)/data", "-m", "immediate", "-w", "stop"]) }

    func stop() {
        _ = try? Self.run(stopCommand, log: nil)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Clusters left by test processes that died without their `atexit` (a crash, SIGKILL): their
    /// folder names a pid that is gone. Stopped and deleted, so they do not pile up.
    static func removeOrphans() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = name.dropFirst(prefix.count).split(separator: "-").first.flatMap({ Int32($0) }),
                  kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let root = "\(parent)/\(name)"
            if let pidLine = try? String(contentsOfFile: "\(root)/data/postmaster.pid", encoding: .utf8).split(separator: "\n").first,
               let postmaster = Int32(pidLine) {
                kill(postmaster, SIGQUIT)  // the immediate shutdown
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// `tool` with `arguments`, as the cluster's account.
    func commandLine(_ tool: String, _ arguments: [String]) -> [String] {
        let path = "\(binaries)/\(tool)"
        guard let account else { return [path] + arguments }
        return ["/usr/sbin/runuser", "-u", account, "--", path] + arguments
    }

    func command(_ tool: String, _ arguments: [String]) throws {
        try Self.run(commandLine(tool, arguments), log: "\(root)/commands.log")
    }

    /// Runs a command to its end with its output appended to `log` (nil: discarded). Spawned and
    /// reaped here rather than with Foundation's `Process`, which learns of a child's end through
    /// a socket the child inherits: `pg_ctl start` hands it on to the server it leaves running,
    /// and `waitUntilExit` would wait as long as the server lives.
    public static func run(_ command: [String], log: String?) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process: `pg_ctl start` leaves the server running with whatever it
        // inherits, and a socket the tests' servers accepted (NIO's lack close-on-exec) would stay
        // open in it after the server closed it, so its client never saw the end of a response
        // ended by closing the connection.
        let closing = choreo_spawn_file_actions_close_from(&actions, 3)
        guard closing == 0 else { throw PostgresServerError(message: "cannot keep this process's descriptors from \(command[0]): \(String(cString: strerror(closing)))") }
        var pid = pid_t()
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw PostgresServerError(message: "cannot run \(command[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS are macros Swift cannot call: exited when the low 7 bits are 0.
        let exitCode = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        guard exitCode == 0 else {
            let tail = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { String($0.suffix(2000)) } ?? ""
            throw PostgresServerError(message: "\(command.joined(separator: " ")) exited with \(exitCode):\n\(tail)")
        }
    }

    static let skipReasonText = "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH; scripts/setup.sh installs it)"
}

/// The test cluster could not start (or PostgreSQL is not installed).
public struct PostgresServerError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "the test PostgreSQL server: \(message)" }
}

/// One test's database on the process's cluster, dropped (with any connection still open to it)
/// when released.
public final class PostgresTestDatabase: Sendable {
    public let name: String
    /// `postgres://choreo@/<name>?host=<socket folder>`: no password (the test cluster trusts
    /// its socket, which only this machine's root and `postgres` can reach).
    public let url: String
    let server: PostgresServer

    init(name: String, url: String, server: PostgresServer) {
        self.name = name
        self.url = url
        self.server = server
    }

    /// A new connection to this database.
    public func connect() throws -> PostgresConnection { try PostgresConnection(url: PostgresURL(url)) }

    deinit {
        let admin = try? PostgresConnection(url: PostgresURL(server.url(database: "postgres")))
        _ = try? admin?.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// Runs `body` with the URL of a fresh database on the process's PostgreSQL cluster (started on
/// first use), and drops the database afterwards.
public func withPostgresDatabase<T>(isolation: isolated (any Actor)? = #isolation,
                                    _ body: (String) async throws -> T) async throws -> T {
    let database = try PostgresServer.shared.get().createDatabase()
    let result = try await body(database.url)
    withExtendedLifetime(database) {}
    return result
}
