import ChoreoAI
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Database {
    /// A hidden batch whose heartbeat is older than this is abandoned even when its submitter's
    /// process cannot be checked (another host) or its pid was reused: a live submit renews the
    /// heartbeat with every slice, seconds apart.
    static let abandonedSubmitAge = 600.0

    /// Deletes the hidden batches (`submitting`) of submits that were killed: their process is
    /// gone (same host), or their heartbeat is older than `abandonedSubmitAge`. A live slow submit
    /// is left alone. Called by every writer that starts work: `submit` and `run`. Returns the ids.
    @discardableResult
    public func removeAbandonedSubmits(now: Double = Date().timeIntervalSince1970) throws -> [String] {
        var candidates: [(id: String, submitter: String, heartbeat: Double)] = []
        try query("SELECT id, coalesce(submitter, ''), coalesce(submit_heartbeat_at, 0) FROM batches WHERE state = 'submitting'") { row in
            candidates.append((row.string(0) ?? "", row.string(1) ?? "", row.double(2) ?? 0))
        }
        let host = ProcessInfo.processInfo.hostName
        let abandoned = candidates.filter { c in
            if now - c.heartbeat > Self.abandonedSubmitAge { return true }
            guard let who = try? JSONValue.parse(c.submitter), who["host"]?.stringValue == host,
                  let pid = who["pid"]?.intValue else { return false }
            // kill(pid, 0) sends nothing: it fails with ESRCH when no such process exists.
            return kill(pid_t(pid), 0) != 0 && errno == ESRCH
        }
        for c in abandoned {
            // The jobs go with the batch (ON DELETE CASCADE). Re-checked under the write lock.
            try transaction(.immediate) {
                try run("DELETE FROM batches WHERE id = ? AND state = 'submitting' AND coalesce(submit_heartbeat_at, 0) = ?",
                        [.text(c.id), .real(c.heartbeat)])
            }
        }
        return abandoned.map(\.id)
    }
}
