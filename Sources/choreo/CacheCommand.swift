import ArgumentParser
import ChoreoAI
import ChoreoBatch
import ChoreoSQLite
import Foundation

/// `choreo cache stats|clear`: what the request cache holds, and taking answers out of it.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect or clear the request cache (`run --cache`).",
        discussion: """
            A run with --cache answers a job identical to one already finished with the stored answer, \
            at no cost. The cache is the database's own finished jobs (every batch), and with --cache-db a \
            file shared with other databases. See docs/cost.md, "The request cache".

            Examples:
              choreo cache stats
              choreo cache stats --cache-db ~/shared-cache.sqlite --json
              choreo cache clear --older-than 30d
            """,
        subcommands: [Stats.self, Clear.self]
    )

    /// The cache a subcommand works on: the shared file when named, else the database's own.
    struct Location: ParsableArguments {
        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("cache-db"), help: ArgumentHelp("A shared cache file instead of the database's own cache.", valueName: "path"))
        var cacheDB: String?
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answers kept, jobs answered from them and what that saved, per model.")

        @OptionGroup var location: Location
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            let stats: CacheStats
            if let path = location.cacheDB {
                guard FileManager.default.fileExists(atPath: path) else { throw UsageError("no cache file at \(path)") }
                stats = try await CacheFile(path: path).stats()
            } else {
                stats = try location.database.openStore().cacheStats()
            }
            print(json ? stats.json.jsonString : stats.text, terminator: json ? "\n" : "")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take answers out of the cache (all, or those older than a duration).",
            discussion: """
                In a results database the jobs and their results stay; their answers are no longer reused. \
                In a shared cache file (--cache-db) the entries are deleted.
                """)

        @OptionGroup var location: Location
        @Option(name: .customLong("older-than"), help: ArgumentHelp("Only answers made longer ago than this (30d, 12h, 90m).", valueName: "duration"))
        var olderThan: String?

        func validate() throws {
            if let olderThan, (RetryHints.duration(olderThan) ?? -1) < 0 {
                throw ValidationError("--older-than \(olderThan): expected a duration like 30d, 12h or 90m")
            }
        }

        func run() async throws {
            let cutoff = olderThan.flatMap(RetryHints.duration).map { Date().timeIntervalSince1970 - $0 }
            let cleared: Int, place: String
            if let path = location.cacheDB {
                guard FileManager.default.fileExists(atPath: path) else { throw UsageError("no cache file at \(path)") }
                cleared = try await CacheFile(path: path).clear(before: cutoff)
                place = path
            } else {
                cleared = try location.database.openStore(forWriting: true).clearCache(before: cutoff)
                place = location.database.shownLocation
            }
            StandardError.print("cleared \(Money.grouped(cleared)) answers from the cache of \(place)"
                                + (olderThan.map { " (made more than \($0) ago)" } ?? ""))
        }
    }
}
