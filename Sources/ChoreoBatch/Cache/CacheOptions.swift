import ChoreoAI
import Foundation

/// How a run uses the request cache (docs/cost.md, "The request cache").
public struct CacheOptions: Sendable, Equatable {
    /// A cache file shared beyond this database (`--cache-db`), looked up after the database's
    /// own answers and given every reusable answer this run gets.
    public var sharedPath: String?
    /// Reuse answers to requests that sample too (`--cache-sampled`; see `RequestKey.samples`).
    public var reuseSampled = false

    public init(sharedPath: String? = nil, reuseSampled: Bool = false) {
        self.sharedPath = sharedPath
        self.reuseSampled = reuseSampled
    }

    /// The `cache` of a configuration file: nil when it has none or says `false`. `true` turns the
    /// cache on; an object turns it on with settings: `db` (a shared cache file, relative to the
    /// configuration file's folder) and `sampled` (`--cache-sampled`).
    public static func configured(fileAt path: String) throws -> CacheOptions? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try configured(parsing: Array(data), file: path)
    }

    static let keys = ["db", "sampled"]

    public static func configured(parsing bytes: [UInt8], file: String) throws -> CacheOptions? {
        // The file's syntax is checked by `ProviderConfiguration`; here only `cache`.
        guard let root = try? JSONValue.parse(bytes), let cache = root["cache"] else { return nil }
        func fail(_ path: String, _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: JSONLocator(bytes).position(of: path).line, keyPath: path, message: message)
        }
        switch cache {
        case .bool(let on): return on ? CacheOptions() : nil
        case .object(let o):
            if let unknown = o.keys.sorted().first(where: { !keys.contains($0) }) {
                throw fail(JSONLocator.path("cache", key: unknown), "unknown key; allowed: \(keys.joined(separator: ", "))")
            }
            var options = CacheOptions()
            if let db = o["db"] {
                guard let p = db.stringValue, !p.isEmpty else { throw fail("cache.db", "expected the path of a cache file") }
                options.sharedPath = p.hasPrefix("/") ? p : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(p).path
            }
            if let sampled = o["sampled"] {
                guard let b = sampled.boolValue else { throw fail("cache.sampled", "expected true or false") }
                options.reuseSampled = b
            }
            return options
        default:
            throw fail("cache", "expected true, false or an object with db and sampled")
        }
    }
}
