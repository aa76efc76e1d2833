import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting
import ChoreoSQLite

@Suite("Submitting job files")
struct SubmitTests {
    @Test func validFileBecomesOneBatchWithEveryJobInOrder() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [
            batchLine("a", extra: #","max_tokens":8,"stream":true,"stream_options":{"include_usage":true}"#),
            "",
            #"{"custom_id":"b","model":"m2","messages":[{"role":"system","content":"Réponds en français."},{"role":"user","content":"Ça va ?"}],"temperature":0.2}"#,
            #"{"model":"m3","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
        ])
        let db = try dir.database()
        let result = try BatchSubmitter(database: db, options: SubmitOptions(name: "demo")).submit(file: path)
        #expect(result.batchID.hasPrefix("batch_") && result.batchID.count == 18)
        #expect(result.batchID.dropFirst(6).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(result.jobCount == 3 && !result.isExisting)

        var rows: [(String, Int, String, String, String)] = []
        try db.query("SELECT custom_id, line, model, request, state FROM jobs_readable ORDER BY id") {
            rows.append(($0.string(0)!, $0.int(1)!, $0.string(2)!, $0.string(3)!, $0.string(4)!))
        }
        #expect(rows.map(\.0) == ["a", "b", "line-4"])
        #expect(rows.map(\.1) == [1, 3, 4])
        #expect(rows.map(\.2) == ["gpt-4o-mini", "m2", "m3"])
        #expect(rows.allSatisfy { $0.4 == "pending" })
        #expect(rows[0].3 == #"{"max_tokens":8,"messages":[{"content":"Hello","role":"user"}],"model":"gpt-4o-mini"}"#)
        #expect(rows[1].3.contains("Réponds en français.") && !rows[1].3.contains("custom_id"))

        let batch = try #require(try db.queryOne("SELECT name, state, total_jobs, source_file, source_sha256, options FROM batches") {
            ($0.string(0), $0.string(1), $0.int(2), $0.string(3), $0.string(4), $0.string(5))
        })
        #expect(batch.0 == "demo" && batch.1 == "pending" && batch.2 == 3)
        #expect(batch.3 == BatchSubmitter.absolutePath(path))
        #expect(batch.4 == SHA256.hex(Array(FileManager.default.contents(atPath: path)!)))
        #expect(batch.5?.contains(#""name":"demo""#) == true)
    }

    @Test func badInputCorpusReportsEveryLineFieldAndCode() throws {
        let dir = TemporaryDirectory()
        var lines = [
            batchLine("ok"),                                                                                    // 1
            #"{"custom_id":"x2","method":"POST","#,                                                              // 2
            "[1,2]",                                                                                            // 3
            "",                                                                                                 // 4 (blank)
            #"{"custom_id":"x5","method":"POST","url":"/v1/completions","body":{"model":"m","messages":[]}}"#,   // 5
            #"{"custom_id":"x6","method":"GET","url":"/v1/chat/completions","body":{}}"#,                        // 6
            #"{"custom_id":"x7","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}}"#,         // 7
            #"{"custom_id":"x8","body":{"model":42,"messages":[]}}"#,                                           // 8
            #"{"custom_id":"x9","body":{"model":"m","messages":[]}}"#,                                          // 9
            #"{"custom_id":"x10","body":{"model":"m","messages":[{"role":"user","content":5}]}}"#,               // 10
            batchLine("x11", extra: #","max_tokens":0"#),                                                       // 11
            batchLine("x12", extra: #","temperature":"hot""#),                                                  // 12
            batchLine("ok"),                                                                                    // 13
            "INVALID-UTF8",                                                                                     // 14
            batchLine("x15", String(repeating: "y", count: 3000)),                                              // 15
            #"{"custom_id":"s16","model":"m"}"#,                                                                // 16
            #"{"custom_id":7,"model":"m","messages":[{"role":"user","content":"hi"}]}"#,                        // 17
            #"{"custom_id":"x18","body":{"model":"m","messages":[{"role":"user","content":"a"},{"content":"b"}]}}"#, // 18
            #"{"custom_id":"x19","body":"text"}"#,                                                              // 19
        ]
        lines[13] = "@@"
        var bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        // Line 14: a lone continuation byte.
        let at = bytes.firstIndex(of: UInt8(ascii: "@"))!
        bytes.replaceSubrange(at..<at + 2, with: [UInt8(ascii: "\""), 0x80])
        let path = dir.write("bad.jsonl", bytes: bytes)

        let db = try dir.database()
        let submitter = BatchSubmitter(database: db, options: SubmitOptions(maxLineBytes: 2000))
        let error = try #require(throws: JobFileError.self) { try submitter.submit(file: path) }
        let got = error.errors.map { "\($0.line) \($0.field ?? "-") \($0.code)" }
        #expect(got == [
            "2 - invalid_json_line",
            "3 - invalid_type",
            "5 url url_mismatch",
            "6 method invalid_value",
            "7 body.model missing_required_parameter",
            "8 body.model invalid_type",
            "9 body.messages invalid_value",
            "10 body.messages[0].content invalid_type",
            "11 body.max_tokens invalid_value",
            "12 body.temperature invalid_type",
            "13 custom_id duplicate_custom_id",
            "14 - invalid_utf8",
            "15 - line_too_large",
            "16 messages missing_required_parameter",
            "17 custom_id invalid_type",
            "18 body.messages[1].role missing_required_parameter",
            "19 body invalid_type",
        ])
        #expect(error.errors[0].message.contains("at byte 34"))
        #expect(error.report().contains("17 invalid lines; nothing was submitted"))
        // All or nothing: nothing was written.
        #expect(try db.count("SELECT count(*) FROM batches") == 0)
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
    }

    @Test func skipInvalidStoresTheValidLinesAndRecordsTheRest() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("mixed.jsonl", lines: [batchLine("a"), "{oops", batchLine("b"), batchLine("a")])
        let db = try dir.database()
        #expect(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: path) }
        #expect(try db.count("SELECT count(*) FROM batches") == 0)

        let result = try BatchSubmitter(database: db, options: SubmitOptions(skipInvalid: true)).submit(file: path)
        #expect(result.jobCount == 2 && result.rejected.count == 2)
        #expect(try db.count("SELECT count(*) FROM jobs WHERE batch_id = ?", [.text(result.batchID)]) == 2)
        var rejected: [String] = []
        try db.query("SELECT line, code, field FROM rejected_lines WHERE batch_id = ? ORDER BY line", [.text(result.batchID)]) {
            rejected.append("\($0.int(0)!) \($0.string(1)!) \($0.string(2) ?? "-")")
        }
        #expect(rejected == ["2 invalid_json_line -", "4 duplicate_custom_id custom_id"])
        #expect(try db.count("SELECT rejected_lines FROM batches") == 2)
    }

    @Test func aFileWithoutValidLinesIsRejectedEvenWithSkipInvalid() throws {
        let dir = TemporaryDirectory()
        let db = try dir.database()
        let empty = dir.write("empty.jsonl", text: "\n\n")
        let e = try #require(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: empty) }
        #expect(e.errors.map(\.code) == ["empty_file"])
        let bad = dir.write("bad.jsonl", lines: ["{"])
        #expect(throws: JobFileError.self) { try BatchSubmitter(database: db, options: SubmitOptions(skipInvalid: true)).submit(file: bad) }
        #expect(try db.count("SELECT count(*) FROM batches") == 0)
    }

    @Test func resubmittingTheSameBytesReturnsTheSameBatchUnlessNew() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: [batchLine("a"), batchLine("b")])
        let db = try dir.database()
        let first = try BatchSubmitter(database: db).submit(file: path)
        let again = try BatchSubmitter(database: db).submit(file: path)
        #expect(again.batchID == first.batchID && again.isExisting && again.jobCount == 2)
        let fresh = try BatchSubmitter(database: db, options: SubmitOptions(forceNew: true)).submit(file: path)
        #expect(fresh.batchID != first.batchID && !fresh.isExisting)
        #expect(try db.count("SELECT count(*) FROM jobs") == 4)
    }

    /// A submit turns CHECK constraints off for its inserts (BatchSubmitter.fill): on the same
    /// connection afterwards, after a submit that stored its batch or one that failed, a job's
    /// state is checked again.
    @Test func theStateCheckHoldsOnTheConnectionAfterASubmitThatSucceededOrFailed() throws {
        struct Killed: Error {}
        let dir = TemporaryDirectory()
        let db = try dir.database()
        func stateIsChecked() -> Bool {
            (try? db.execute("UPDATE jobs SET state = 'bogus'")) == nil && (try? db.count("SELECT count(*) FROM jobs WHERE state = 'bogus'")) == 0
        }
        #expect(try BatchSubmitter(database: db).submit(file: dir.write("a.jsonl", lines: [batchLine("a")])).jobCount == 1)
        #expect(stateIsChecked())
        var failing = BatchSubmitter(database: db)
        failing.afterInsert = { _ in throw Killed() }
        #expect(throws: Killed.self) { try failing.submit(file: dir.write("b.jsonl", lines: [batchLine("b")])) }
        #expect(stateIsChecked())
        #expect(throws: JobFileError.self) { try BatchSubmitter(database: db).submit(file: dir.write("c.jsonl", lines: ["{"])) }
        #expect(stateIsChecked())
        #expect(try db.queryOne("PRAGMA ignore_check_constraints") { $0.int(0) } == 0)
    }

    @Test func aSubmitThatDiesHalfWayLeavesNoBatchAndNoJobs() throws {
        struct Killed: Error {}
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (1...500).map { batchLine("j\($0)") })
        let db = try dir.database()
        var submitter = BatchSubmitter(database: db)
        submitter.afterInsert = { if $0 == 250 { throw Killed() } }
        #expect(throws: Killed.self) { try submitter.submit(file: path) }
        #expect(try db.count("SELECT count(*) FROM batches") == 0)
        #expect(try db.count("SELECT count(*) FROM jobs") == 0)
        #expect(!db.isInTransaction)
        // And the same file then goes in whole.
        submitter.afterInsert = nil
        #expect(try submitter.submit(file: path).jobCount == 500)
    }

    @Test func readerHandlesCRLFMissingFinalNewlineAndBlocksBoundaries() throws {
        let dir = TemporaryDirectory()
        // Lines long enough that several cross the 1 MiB block boundary.
        let long = String(repeating: "z", count: 300_000)
        let text = (1...8).map { batchLine("c\($0)", long) }.joined(separator: "\r\n")
        let path = dir.write("crlf.jsonl", text: text)
        var reader = try JobFileReader(path: path)
        var numbers: [Int] = []
        while let item = try reader.next() {
            guard case .line(let n, let bytes) = item else { Issue.record("unexpected \(item)"); continue }
            numbers.append(n)
            #expect(bytes.last == UInt8(ascii: "}"))
            #expect(bytes.count == batchLine("c\(n)", long).utf8.count)
        }
        #expect(numbers == Array(1...8))
        #expect(try JobFileReader.sha256Hex(ofFile: path) == SHA256.hex(Array(text.utf8)))
    }

    /// A file saved by a Windows editor or PowerShell: a UTF-8 byte-order mark, CRLF line ends.
    /// The mark made the first line "invalid JSON at byte 0", and the whole file was refused.
    @Test func aByteOrderMarkBeforeTheFirstLineIsNotPartOfIt() throws {
        let dir = TemporaryDirectory()
        let text = "\u{FEFF}" + batchLine("a") + "\r\n" + batchLine("b") + "\r\n"
        let path = dir.write("bom.jsonl", text: text)
        let db = try dir.database()
        let result = try BatchSubmitter(database: db, options: SubmitOptions()).submit(file: path)
        #expect(result.jobCount == 2)
        var rows: [(String, String)] = []
        try db.query("SELECT custom_id, request FROM jobs_readable ORDER BY id") { rows.append(($0.string(0)!, $0.string(1)!)) }
        #expect(rows.map(\.0) == ["a", "b"])
        #expect(rows.allSatisfy { $0.1.hasPrefix("{") }, "\(rows)")
        // Only at the start of the file: a mark inside it is not valid JSON there.
        let inside = dir.write("inside.jsonl", text: batchLine("a") + "\n\u{FEFF}" + batchLine("b") + "\n")
        #expect(throws: (any Error).self) { try BatchSubmitter(database: db, options: SubmitOptions()).submit(file: inside) }
    }

    @Test func memberRangesSkipNestedValuesAndTakeTheLastRepeat() {
        func member(_ key: String, _ text: String) -> String? {
            let bytes = Array(text.utf8)
            return JSONLocator.valueRange(ofMember: key, in: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
        }
        #expect(member("body", #" {"a":{"body":1},"body" : [1,{"x":"]}"}] ,"c":true}"#) == #"[1,{"x":"]}"}]"#)
        #expect(member("n", #"{"n":1,"n":-2.5e3}"#) == "-2.5e3")
        #expect(member("s", #"{"s":"q\"x"}"#) == #""q\"x""#)
        #expect(member("body", #"{"bo\u0064y":1}"#) == nil)
        #expect(member("body", "[1]") == nil)
    }

    @Test func batchBodyIsStoredAsSubmittedWhenNothingIsDropped() throws {
        let line = #"{ "custom_id" : "q\"1", "body" : {"model":"m", "messages":[{"role":"user","content":"a } ] \" {"}], "metadata":{"x":[1,{"y":null}]}} , "url":"/v1/chat/completions"}"#
        let validator = JobLineValidator()
        let job = try validator.validate(line: 1, bytes: Array(line.utf8)).get()
        #expect(job.requestText == #"{"model":"m", "messages":[{"role":"user","content":"a } ] \" {"}], "metadata":{"x":[1,{"y":null}]}}"#)
        #expect(try JSONValue.parse(job.requestText) == JSONValue.parse(line)["body"])
        #expect(job.customID == "q\"1")
    }
}
