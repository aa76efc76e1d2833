import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch
import ChoreoTesting
import ChoreoSQLite

@Suite struct CostEstimateTests {
    static let price = Price(input: 2, output: 8, source: "test")
    static let prices = PriceTable(entries: [("m", price)])

    static func body(_ prompt: String, maxTokens: Int?) -> JSONValue {
        var o: JSONValue = ["model": "m", "messages": [["role": "user", "content": .string(prompt)]]]
        if let maxTokens { o["max_tokens"] = .int(Int64(maxTokens)) }
        return o
    }

    /// An embeddings job has no output: bounded without max_tokens, and only its prompt is priced.
    @Test func embeddingsJobsCostTheirPromptOnly() throws {
        let body: JSONValue = ["model": "m", "input": "Phobos is the larger moon.", "dimensions": 8]
        let e = CostEstimate(jobs: [("m", body, .embeddings), ("m", body, .embeddings)], calibration: [:], prices: Self.prices,
                             kind: { _ in .openAI })
        let row = try #require(e.rows.first)
        #expect(row.unbounded == 0 && row.jobs == 2)
        let promptCost = Double(row.promptTokens) * Self.price.input / 1_000_000
        #expect(abs((row.low ?? -1) - promptCost) < 1e-12 && abs((row.expected ?? -1) - promptCost) < 1e-12)
        #expect((row.high ?? 0) >= promptCost)
    }

    @Test func lowExpectedHighBracketEachOtherAndHighIsTheBudgetReservation() {
        let jobs: [(model: String, body: JSONValue, endpoint: JobEndpoint)] = (0..<10).map {
            ("m", Self.body("Question \($0) about the moons of Mars", maxTokens: 200), .chatCompletions)
        }
        let e = CostEstimate(jobs: jobs, calibration: [:], prices: Self.prices, kind: { _ in .openAI })
        let r = e.rows[0]
        #expect(r.jobs == 10 && r.calibratedBy == 0)
        #expect(r.low! < r.expected! && r.expected! < r.high!)
        let reservations = jobs.reduce(0.0) { $0 + Self.price.worstCase(promptTokens: RequestBounds.promptTokens($1.body), completionTokens: 200) }
        #expect(abs(r.high! - reservations) < 1e-12)
        // Uncalibrated: the prompt at 4 bytes a token, the output at half of max_tokens.
        let bytes = RequestBounds.promptTokens(jobs[0].body)
        let one = (ceil(Double(bytes) / 4) * 2 + 100 * 8) / 1_000_000
        #expect(abs(r.expected! - 10 * one) < 1e-12)
        #expect(e.total.high == r.high)
    }

    @Test func unknownPriceAndMissingBoundAreUnknownNeverGuessed() {
        let e = CostEstimate(jobs: [("m", Self.body("Hi", maxTokens: nil), .chatCompletions), ("other", Self.body("Hi", maxTokens: 5), .chatCompletions)],
                             calibration: [:], prices: Self.prices, kind: { _ in .openAI })
        let m = e.rows.first { $0.model == "m" }!, other = e.rows.first { $0.model == "other" }!
        #expect(m.low != nil && m.expected == nil && m.high == nil && m.unbounded == 1)
        #expect(other.low == nil && other.expected == nil && other.high == nil)
        #expect(e.total.low == nil)
        #expect(e.rendered().contains("unknown"))
    }

    /// Finished jobs of the model replace the 4-bytes rule by what the provider reported.
    @Test func finishedJobsCalibrateTheEstimate() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("jobs.jsonl", lines: (0..<6).map { batchLine("j\($0)", "Question \($0) about moons", model: "m", extra: #","max_tokens":300"#) })
        let db = try dir.database()
        let batch = try BatchSubmitter(database: db).submit(file: path).batchID
        try db.execute("UPDATE jobs SET state = 'succeeded', attempts = 1, prompt_tokens = 12, completion_tokens = 40 WHERE id <= 4")
        let store = SQLiteBatchStore(db)
        let calibration = try store.estimateCalibration()
        #expect(calibration["m"]?.jobs == 4)
        #expect(calibration["m"]?.meanCompletionTokens == 40)
        let left = try store.jobsLeft(batch: batch)
        #expect(left.count == 2)
        let e = CostEstimate(jobs: left, calibration: calibration, prices: Self.prices, kind: { _ in .openAI })
        let r = e.rows[0]
        #expect(r.calibratedBy == 4)
        // About 12 prompt tokens a job (same-sized prompts), 40 output tokens: not half of 300.
        #expect(abs(Double(r.promptTokens) / 2 - 12) <= 1)
        #expect(abs(r.expected! - (Double(r.promptTokens) * 2 + 2 * 40 * 8) / 1_000_000) < 1e-12)
        #expect(r.high! > r.expected!)
    }
}
