import ChoreoLocking
import Foundation
import Testing

@Suite struct LockedTests {
    /// Tasks on every thread of the pool, each suspending between its locks so that it resumes on
    /// another thread: every increment is kept, and the lock never refuses its unlock.
    @Test func tasksThatSuspendBetweenLocksLoseNoIncrement() async {
        let counter = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<2_000 {
                        counter.withLock { $0 += 1 }
                        await Task.yield()
                        counter.withLock { $0 += 1 }
                    }
                }
            }
        }
        #expect(counter.withLock { $0 } == 8 * 2_000 * 2)
    }

    @Test func anErrorThrownUnderTheLockReleasesIt() {
        struct Refused: Error {}
        let value = Locked([1])
        #expect(throws: Refused.self) { try value.withLock { _ throws(Refused) in throw Refused() } }
        #expect(value.withLock { $0.count } == 1)
    }

    /// Synchronization's `Mutex` takes its lock in the name of the thread whose id an inlined
    /// thread-local read returns, and Swift 6.3's optimizer moved that read across a task's hop to
    /// another thread (ChoreoLocking/Locked.swift): the release build of `choreo run --mock
    /// --mock-fault-rate 0.15` stopped with "Call to unlock Mutex on a thread which hasn't acquired
    /// the lock" in 2 runs of 3. Debug builds, which the tests are, never inline it; so the rule is
    /// checked on the sources: `Locked` is the one lock (`Atomic` stays: it keeps no owner).
    @Test func noSourceUsesSynchronizationsMutex() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var offenders: [String] = []
        for folder in ["Sources", "Tests", "Examples"] {
            let files = FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
            for case let file as URL in files where file.pathExtension == "swift" && file.lastPathComponent != "LockedTests.swift" {
                let text = try String(contentsOf: file, encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.range(of: #"\bMutex\s*[<(]"#, options: .regularExpression) != nil
                    && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                    offenders.append("\(file.path.dropFirst(root.path.count + 1)):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "use ChoreoLocking's Locked instead of Synchronization's Mutex:\n\(offenders.joined(separator: "\n"))")
    }
}
