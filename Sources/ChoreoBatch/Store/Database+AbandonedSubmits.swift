import ChoreoAI
public import Foundation
public import ChoreoSQLite
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
        var candidates: [(id: String, submitter: String?, heartbeat: Double)] = []
        try query("SELECT id, submitter, coalesce(submit_heartbeat_at, 0) FROM batches WHERE state = 'submitting'") { row in
            candidates.append((row.string(0) ?? "", row.string(1), row.double(2) ?? 0))
        }
        let host = ProcessInfo.processInfo.hostName
        let abandoned = candidates.filter { c in
            if now - c.heartbeat > Self.abandonedSubmitAge { return true }
            guard let who = try? JSONValue.parse(c.submitter ?? ""), who["host"]?.stringValue == host,
                  let pid = who["pid"]?.intValue else { return false }
            // kill(pid, 0) sends nothing: it fails with ESRCH when no such process exists.
            return kill(pid_t(pid), 0) != 0 && errno == ESRCH
        }
        for c in abandoned {
            // Re-checked under the write lock, then disowned: should its submitter come back (a
            // stopped process resumed), its last commit finds the batch no longer its own. A
            // heartbeat of 0 lets the next writer finish the job if this one dies meanwhile.
            let claimed = try transaction(.immediate) {
                try run("""
                    UPDATE batches SET submitter = NULL, submit_heartbeat_at = 0
                    WHERE id = ? AND state = 'submitting' AND submitter IS ? AND coalesce(submit_heartbeat_at, 0) = ?
                    """, [.text(c.id), .init(c.submitter), .real(c.heartbeat)])
                return changes == 1
            }
            if claimed { try deleteHiddenBatch(c.id) }
        }
        return abandoned.map(\.id)
    }

    /// Deletes a batch that is still `submitting`: its jobs in slices, like a submit's inserts, so
    /// runners are not held up by one long delete (nobody sees them meanwhile); then the batch,
    /// and by cascade anything a slice missed.
    func deleteHiddenBatch(_ id: String) throws {
        var deleted = 0
        repeat {
            deleted = try transaction(.immediate) {
                try run("""
                    DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE batch_id = ?1
                      AND EXISTS (SELECT 1 FROM batches WHERE id = ?1 AND state = 'submitting') LIMIT 50000)
                    """, [.text(id)])
                return changes
            }
        } while deleted > 0
        try transaction(.immediate) { try run("DELETE FROM batches WHERE id = ? AND state = 'submitting'", [.text(id)]) }
    }
}
