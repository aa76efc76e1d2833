import Foundation
public import ChoreoSQLite
import ChoreoAI

/// A request cache of its own file (`--cache-db PATH`), shared by the databases of several
/// projects or machines: every reusable answer a run with it produces is kept there, by request
/// key, with the job that paid for it. One connection, serialised by the actor; the file is a
/// SQLite database in WAL mode like a results database, so runs on several databases can share
/// it at once.
public actor CacheFile {
    public nonisolated let path: String
    private let db: Database

    static let migrator = Migrator([
        .init(version: 1, sql: """
            CREATE TABLE cache_entries (
              key TEXT PRIMARY KEY,
              model TEXT NOT NULL,
              output TEXT NOT NULL,
              tool_calls TEXT,
              finish_reason TEXT NOT NULL,
              provider_finish_reason TEXT,
              response TEXT NOT NULL,
              reasoning TEXT,
              request_id TEXT,
              cost_usd REAL,
              source TEXT NOT NULL,
              created_at REAL NOT NULL,
              hits INTEGER NOT NULL DEFAULT 0,
              last_hit_at REAL
            );
            CREATE INDEX cache_entries_by_age ON cache_entries(created_at);
            """),
    ])

    /// Opens (creating it, mode 0600) the cache file at `path`. Refuses a Choreo results database:
    /// the cache is a file of its own.
    public init(path: String, busyTimeout: Double = Database.defaultBusyTimeout) throws {
        if FileManager.default.fileExists(atPath: path) {
            let probe = try Database(path: path, readOnly: true, busyTimeout: busyTimeout, migrator: nil)
            let isResults = try probe.queryOne("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'") { _ in true } ?? false
            if isResults { throw CacheFileError.isResultsDatabase(path) }
        }
        do {
            db = try Database(path: path, readOnly: false, busyTimeout: busyTimeout, migrator: Self.migrator)
        } catch let error as SchemaError {
            throw CacheFileError.unreadable(path, "\(error)")
        }
        self.path = path
    }

    /// What `cached_from` says of an answer from this file.
    nonisolated func source(_ entrySource: String) -> String { "\(path): \(entrySource)" }

    /// The answers this file holds to `keys`, by key; each hit is counted.
    public func answers(keys: [String]) throws -> [String: CachedAnswer] {
        guard !keys.isEmpty else { return [:] }
        let list = JSONValue.array(Set(keys).sorted().map { .string($0) }).jsonString
        var found: [String: CachedAnswer] = [:]
        try db.query("""
            SELECT key, output, tool_calls, finish_reason, provider_finish_reason, response, reasoning, request_id, source, cost_usd
            FROM cache_entries WHERE key IN (SELECT value FROM json_each(?))
            """, [.init(list)]) { row in
            found[row.string(0)!] = CachedAnswer(
                output: row.string(1)!, toolCalls: row.string(2), finishReason: row.string(3)!, providerFinishReason: row.string(4),
                response: row.string(5)!, reasoning: row.string(6), requestID: row.string(7), source: source(row.string(8) ?? ""),
                costUSD: row.double(9))
        }
        if !found.isEmpty {
            let hit = JSONValue.array(found.keys.sorted().map { .string($0) }).jsonString
            try db.run("UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? WHERE key IN (SELECT value FROM json_each(?))",
                       [.init(Date().timeIntervalSince1970), .init(hit)])
        }
        return found
    }

    /// Keeps `answer` (a reusable one: see `CachedAnswer.reusableFinishReasons`) under `key`;
    /// the first answer to a key stays.
    public func remember(key: String, model: String, answer: CachedAnswer) throws {
        try db.run("""
            INSERT INTO cache_entries (key, model, output, tool_calls, finish_reason, provider_finish_reason, response, reasoning,
                                       request_id, cost_usd, source, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING
            """, [.init(key), .init(model), .init(answer.output), .init(answer.toolCalls), .init(answer.finishReason),
                  .init(answer.providerFinishReason), .init(answer.response), .init(answer.reasoning), .init(answer.requestID),
                  .init(answer.costUSD), .init(answer.source), .init(Date().timeIntervalSince1970)])
    }

    /// Entries, by model.
    public func stats() throws -> CacheStats {
        var stats = CacheStats(location: path)
        try db.query("""
            SELECT model, count(*), sum(hits), sum(coalesce(cost_usd, 0) * hits), sum(length(output) + length(response)),
                   min(created_at), max(created_at)
            FROM cache_entries GROUP BY model ORDER BY model
            """) { row in
            stats.models.append(.init(model: row.string(0) ?? "", entries: row.int(1) ?? 0, hits: row.int(2) ?? 0,
                                      savedUSD: row.double(3) ?? 0, bytes: row.int(4) ?? 0))
            stats.oldest = min(stats.oldest ?? .infinity, row.double(5) ?? .infinity)
            stats.newest = max(stats.newest ?? 0, row.double(6) ?? 0)
        }
        return stats
    }

    /// Deletes the entries made before `cutoff` (every entry when nil); returns how many.
    public func clear(before cutoff: Double?) throws -> Int {
        try db.run("DELETE FROM cache_entries WHERE created_at < ?", [.init(cutoff ?? .infinity)])
        return db.changes
    }
}

/// The cache file cannot be used.
public enum CacheFileError: Error, CustomStringConvertible {
    case isResultsDatabase(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .isResultsDatabase(let path):
            return "--cache-db \(path) is a Choreo results database; a shared cache is a file of its own "
                + "(a run's own database is its cache already: use --cache without --cache-db)"
        case .unreadable(let path, let why):
            return "--cache-db \(path) is not a Choreo cache file this version can use: \(why)"
        }
    }
}
