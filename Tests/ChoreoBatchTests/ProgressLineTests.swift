import Foundation
import Testing
@testable import ChoreoBatch

/// The live progress line fits any terminal from 40 columns up, keeping the most useful parts.
@Suite struct ProgressLineTests {
    /// Outages count from `now`.
    static let now = Date()

    static func snapshot(outage reason: String? = nil, big: Bool = false) -> RunEvents.Snapshot {
        var s = RunEvents.Snapshot()
        // The snapshot's elapsed time counts from the real clock, rounded to the second: it starts
        // from the clock now (`now` can be seconds old in a parallel run), which leaves half a
        // second until it is rendered.
        s.started = Date().addingTimeInterval(big ? -90_000 : -75)
        s.hasBegun = true
        s.total = big ? 10_000_000 : 400
        s.doneBefore = big ? 1_234_567 : 20
        s.succeeded = big ? 4_000_000 : 150
        s.failed = big ? 123_456 : 3
        s.retries = big ? 99_999 : 17
        s.inFlight = big ? 100_000 : 64
        s.completionTokens = big ? 900_000_000 : 40_000
        if let reason {
            s.outages["openai"] = ProviderOutage(provider: "openai", reason: reason, origin: "127.0.0.1:9999",
                                                 since: now.addingTimeInterval(-42), nextProbe: now.addingTimeInterval(8),
                                                 gaveUp: false, neverAnswered: false)
        }
        return s
    }

    @Test func fitsEveryWidthFrom40To200() {
        for s in [Self.snapshot(), Self.snapshot(big: true), Self.snapshot(outage: "connection refused"),
                  Self.snapshot(outage: String(repeating: "very long reason ", count: 20), big: true)] {
            for width in 40...200 {
                let line = ProgressLine.render(s, width: width, now: Self.now)
                #expect(ProgressLine.columns(line) <= width - 1, "\(width) columns: \(line)")
                #expect(line.contains("/\(s.total)"), "\(width) columns lost the count: \(line)")
            }
        }
    }

    @Test func wideTerminalShowsEverythingWithAFullBar() {
        let line = ProgressLine.render(Self.snapshot(), width: 200, now: Self.now)
        #expect(line.hasPrefix("[" + String(repeating: "#", count: 10)))
        #expect(line.contains("] 173/400 43%"))
        for part in ["3 failed", "ETA ", "64 in flight", "tok/s", "17 retries", "1:15 elapsed"] {
            #expect(line.contains(part), "missing \(part): \(line)")
        }
    }

    @Test func narrowTerminalDropsTheLeastUsefulFirst() {
        let line = ProgressLine.render(Self.snapshot(), width: 40, now: Self.now)
        #expect(line.contains("173/400"))
        #expect(line.contains("3 failed"))
        #expect(line.contains("ETA "))
        #expect(!line.contains("elapsed"))
        #expect(!line.contains("retries"))
        let eighty = ProgressLine.render(Self.snapshot(), width: 80, now: Self.now)
        #expect(eighty.hasPrefix("["), "80 columns has room for the bar: \(eighty)")
        #expect(eighty.contains("in flight"))
    }

    /// Before the run has counted its jobs, the line says so instead of a full bar at "0/0 100%".
    @Test func aRunThatHasNotCountedItsJobsIsStartingNotDone() {
        for width in [200, 40, 8] {
            let line = ProgressLine.render(RunEvents.Snapshot(), width: width, now: Self.now)
            #expect(line.hasPrefix("start") && !line.contains("100%") && !line.contains("#"), "\(width) columns: \(line)")
            #expect(ProgressLine.columns(line) <= width - 1)
        }
    }

    /// Cancelled jobs count as done, so the line says why the count jumped, as the log line does.
    @Test func cancelledJobsAreShownBesideTheFailedOnes() {
        var s = Self.snapshot()
        s.cancelled = 120
        for width in [200, 40] {
            let line = ProgressLine.render(s, width: width, now: Self.now)
            #expect(line.contains("293/400") && line.contains("120 cancelled"), "\(width) columns: \(line)")
        }
        #expect(!ProgressLine.render(Self.snapshot(), width: 200, now: Self.now).contains("cancelled"))
    }

    /// Jobs held at a paused provider's gate are not on their way: they are counted apart, as
    /// waiting, and only when there are some.
    @Test func jobsWaitingToBeAdmittedAreCountedApartFromThoseInFlight() {
        var s = Self.snapshot(outage: "connection refused")
        s.inFlight = 1
        s.waiting = 63
        let wide = ProgressLine.render(s, width: 200, now: Self.now)
        #expect(wide.contains("1 in flight · 63 waiting"), "\(wide)")
        for width in 40...200 {
            #expect(ProgressLine.columns(ProgressLine.render(s, width: width, now: Self.now)) <= width - 1)
        }
        #expect(!ProgressLine.render(Self.snapshot(), width: 200, now: Self.now).contains("waiting"))
    }

    @Test func anOutageKeepsItsShortFormOnANarrowTerminal() {
        let s = Self.snapshot(outage: "connection refused")
        let wide = ProgressLine.render(s, width: 200, now: Self.now)
        #expect(wide.contains("openai unreachable for 0:42 (connection refused); next probe in 8 s"))
        let narrow = ProgressLine.render(s, width: 40, now: Self.now)
        #expect(narrow.contains("openai unreachable 0:42"), "\(narrow)")
    }

    /// While the database cannot be written nothing ends: the line says why and until when,
    /// and shows no estimate (it would only grow).
    @Test func aDatabaseThatCannotBeWrittenIsShownAndHidesTheEstimate() {
        var s = Self.snapshot()
        #expect(s.eta != nil)
        s.storageFault = StorageFault(reason: "disk full", since: Self.now.addingTimeInterval(-12), stopsAt: Self.now.addingTimeInterval(48))
        #expect(s.eta == nil)
        let wide = ProgressLine.render(s, width: 200, now: Self.now)
        #expect(wide.contains("database not writable for 0:12 (disk full); stopping in 0:48"), "\(wide)")
        #expect(!wide.contains("ETA"), "\(wide)")
        for width in 40...200 {
            let line = ProgressLine.render(s, width: width, now: Self.now)
            #expect(line.contains("database not writable") && line.contains("173/400"), "\(width) columns: \(line)")
            #expect(ProgressLine.columns(line) <= width - 1, "\(width) columns: \(line)")
        }
    }

    @Test func aServersReasonCannotMoveTheCursor() {
        let line = ProgressLine.render(Self.snapshot(outage: "bad\u{1B}[2J\nreason ünïcode"), width: 200, now: Self.now)
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        #expect(line.contains("bad?[2J?reason ?n?code"))
    }
}
