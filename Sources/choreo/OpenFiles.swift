import CChoreoSystem
import Foundation

/// A run holds a socket per stream (two with the built-in mock, which serves them in this
/// process), and SQLite, curl and the event loops hold a few more. Linux's default soft limit of
/// 1,024 open files is below what `--concurrency 1000` needs: connections then failed to open
/// (taken for a provider outage), and so did the database's files ("unable to open database
/// file", a job's end not written). So the run raises its soft limit to what it needs (up to the
/// hard limit), and when even that is short, runs fewer streams at a time and says why.
enum OpenFiles {
    /// Descriptors kept free for everything but the streams (`CHOREO_RESERVED_OPEN_FILES`).
    static let reserve = Int(CHOREO_RESERVED_OPEN_FILES)

    /// How many streams at once fit under the limit, raising the soft limit first, and how many
    /// connections may be open at once (busy and idle: a connection left idle to one provider
    /// holds its file while streams to another open theirs). `perStream`: descriptors each
    /// connection holds.
    static func streamsThatFit(_ concurrency: Int, perStream: Int) -> (streams: Int, connections: Int, limit: Int) {
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 16
        let wanted = open + reserve + concurrency * perStream
        let limit = Int(choreo_raise_open_files_limit(Int64(wanted)))
        guard limit > 0 else { return (concurrency, concurrency, wanted) }
        let connections = max(1, (limit - open - reserve) / perStream)
        return (min(concurrency, connections), connections, limit)
    }
}
