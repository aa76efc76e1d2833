import ChoreoSQLite
import ChoreoPostgres
public import ChoreoAI
import Foundation

/// What a request cache holds and what it saved (`choreo cache stats`).
public struct CacheStats: Sendable {
    public struct Model: Sendable {
        public var model: String
        /// Reusable answers kept.
        public var entries: Int
        /// Jobs answered from them.
        public var hits: Int
        /// What those jobs would have cost (their answers' cost; unknown costs count 0).
        public var savedUSD: Double
        /// Text kept (output and response), in bytes.
        public var bytes: Int
    }

    /// The database or cache file.
    public var location: String
    public var models: [Model] = []
    /// When the oldest and newest entries were made (unix seconds; nil when empty).
    public var oldest: Double?
    public var newest: Double?

    public var entries: Int { models.reduce(0) { $0 + $1.entries } }
    public var hits: Int { models.reduce(0) { $0 + $1.hits } }
    public var savedUSD: Double { models.reduce(0) { $0 + $1.savedUSD } }
    public var bytes: Int { models.reduce(0) { $0 + $1.bytes } }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "location": .string(location), "entries": .int(Int64(entries)), "hits": .int(Int64(hits)),
            "saved_usd": .double(savedUSD), "bytes": .int(Int64(bytes)),
            "models": .array(models.map {
                .object(["model": .string($0.model), "entries": .int(Int64($0.entries)), "hits": .int(Int64($0.hits)),
                         "saved_usd": .double($0.savedUSD), "bytes": .int(Int64($0.bytes))])
            }),
        ]
        o["oldest"] = oldest.map { .string(Self.iso($0)) } ?? .null
        o["newest"] = newest.map { .string(Self.iso($0)) } ?? .null
        return .object(o)
    }

    public var text: String {
        guard entries > 0 || hits > 0 else { return "\(location): the cache is empty\n" }
        var out = "\(location): \(Money.grouped(entries)) reusable answers (\(Self.size(bytes)))"
        if let oldest, let newest { out += ", made \(Self.iso(oldest)) to \(Self.iso(newest))" }
        out += "\n\(Money.grouped(hits)) jobs answered from the cache, saving \(Money.usd(savedUSD))\n"
        let rows = models.map { [$0.model, Money.grouped($0.entries), Money.grouped($0.hits), Money.usd($0.savedUSD)] }
        out += TextTable.render([["model", "answers", "reused", "saved"]] + rows)
        return out
    }

    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
            : bytes >= 1 << 10 ? String(format: "%.1f KiB", Double(bytes) / 1024) : "\(bytes) B"
    }
}

extension BatchStore {
    /// `choreo cache stats`: the request cache of this results database: its succeeded jobs with a
    /// reusable answer and a request key (the answers `--cache` reuses), and the jobs answered from
    /// them.
    public func cacheStats() throws -> CacheStats {
        var stats = CacheStats(location: location.description)
        var byModel: [String: CacheStats.Model] = [:]
        try read("""
            SELECT model, count(*), sum(length(output) + length(response)), min(finished_at), max(finished_at)
            FROM jobs WHERE state = 'succeeded' AND finish_reason IN \(CachedAnswer.reusableSQL)
              AND request_key IS NOT NULL AND request_key <> 'cleared' AND cached_from IS NULL
            GROUP BY model
            """, []) { row in
            let model = row.string(0) ?? ""
            byModel[model] = .init(model: model, entries: row.int(1) ?? 0, hits: 0, savedUSD: 0, bytes: row.int(2) ?? 0)
            if let t = row.double(3) { stats.oldest = min(stats.oldest ?? t, t) }
            if let t = row.double(4) { stats.newest = max(stats.newest ?? t, t) }
        }
        try read("SELECT model, count(*), sum(coalesce(cache_saved_usd, 0)) FROM jobs WHERE cached_from IS NOT NULL GROUP BY model", []) { row in
            let model = row.string(0) ?? ""
            var m = byModel[model] ?? .init(model: model, entries: 0, hits: 0, savedUSD: 0, bytes: 0)
            m.hits = row.int(1) ?? 0
            m.savedUSD = row.double(2) ?? 0
            byModel[model] = m
        }
        stats.models = byModel.values.sorted { $0.model < $1.model }
        return stats
    }
}

extension CacheStats {
    /// Takes the answers finished before the cutoff (`$1`; infinity for all) out of a results
    /// database's request cache: their jobs and results stay, but no run reuses them any more.
    /// The answers are the ones `cacheStats` counts (a cut answer was never reusable), so the two
    /// counts agree.
    static let clearStatement = """
        UPDATE jobs SET request_key = 'cleared'
        WHERE state = 'succeeded' AND finish_reason IN \(CachedAnswer.reusableSQL)
          AND request_key IS NOT NULL AND request_key <> 'cleared' AND cached_from IS NULL
          AND finished_at < $1
        """
}

extension SQLiteBatchStore {
    public func clearCache(before cutoff: Double?) throws -> Int {
        try database.run(CacheStats.clearStatement, [.init(cutoff ?? .infinity)])
        let cleared = database.changes
        try database.checkpoint()
        return cleared
    }
}

extension PostgresBatchStore {
    public func clearCache(before cutoff: Double?) throws -> Int {
        try db.run(CacheStats.clearStatement, [.init(cutoff ?? .infinity)])
    }
}
