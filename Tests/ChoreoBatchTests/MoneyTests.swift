import ChoreoAI
import Foundation
import Testing
@testable import ChoreoBatch

@Suite struct MoneyTests {
    let price = Price(input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15, source: "test")

    @Test func costPricesEachPartOfTheUsageAtItsOwnRate() {
        // 1,000,000 prompt tokens of which 600k cached and 100k written; 200k output of which 50k reasoning.
        let u = CompletionUsage(promptTokens: 1_000_000, completionTokens: 200_000, cachedPromptTokens: 600_000, cacheWriteTokens: 100_000,
                      reasoningTokens: 50_000)
        let expected = 0.3 * 3 + 0.6 * 0.3 + 0.1 * 3.75 + 0.2 * 15  // reasoning is inside the output
        #expect(abs(price.cost(u) - expected) < 1e-12)
        // No cache prices: cached and written tokens cost what input costs.
        let plain = Price(input: 2, output: 8, source: "test")
        #expect(abs(plain.cost(u) - (2 + 0.2 * 8)) < 1e-12)
        // The worst case prices every prompt token at the dearest prompt rate (here the cache write).
        #expect(abs(price.worstCase(promptTokens: 1_000_000, completionTokens: 0) - 3.75) < 1e-12)
    }

    @Test func builtInTableHasDatedSourcedPricesAndMatchesSnapshots() throws {
        let table = PriceTable.builtIn()
        #expect(table.price(for: "gpt-4o-mini")?.input == 0.15)
        #expect(table.price(for: "gpt-4o-mini-2024-07-18")?.output == 0.60)  // a dated snapshot costs what its alias costs
        #expect(table.price(for: "gpt-4o-2024-08-06")?.input == 2.50)        // not gpt-4o-mini's price
        #expect(table.price(for: "claude-sonnet-4-5-20250929")?.cacheWrite == 3.75)
        #expect(table.price(for: "gemini-2.0-flash-lite")?.input == 0.075)   // not gemini-2.0-flash's
        #expect(table.price(for: "gpt-4o-mini")?.source.contains("checked 2025-07-04") == true)
        #expect(table.price(for: "my-local-llama") == nil)                   // unknown: never guessed
        #expect(table.cost(model: "my-local-llama", usage: CompletionUsage(promptTokens: 1, completionTokens: 1)) == nil)
    }

    @Test func configuredPricesOverrideAndExtendByNameOrGlob() throws {
        let text = #"{"providers": [], "prices": {"gpt-4o-mini": {"input": 1, "output": 2}, "llama-*": {"input": 0.1, "cached_input": 0.01, "output": 0.2}}}"#
        let table = PriceTable.builtIn(overriddenBy: try PriceTable.configured(parsing: Array(text.utf8), file: "choreo.json"))
        #expect(table.price(for: "gpt-4o-mini")?.input == 1)
        #expect(table.price(for: "gpt-4o-mini")?.source == "choreo.json (prices)")
        #expect(table.price(for: "llama-3.1-8b")?.cachedInput == 0.01)
        #expect(table.price(for: "gpt-4o")?.input == 2.50)  // the rest of the built-in table stays
    }

    @Test func badPricesNameTheKeyAndLine() {
        let cases: [(String, String)] = [
            ("{\n\"prices\": {\n\"m\": {\"input\": 1}}}", "choreo.json:3: prices.m: output is missing"),
            ("{\n\"prices\": {\"m\": {\"input\": -1, \"output\": 1}}}", "prices.m.input: expected a price ≥ 0"),
            ("{\"prices\": {\"m\": {\"input\": 1, \"output\": 1, \"outptu\": 2}}}", "prices.m.outptu: unknown key"),
        ]
        for (text, message) in cases {
            #expect {
                _ = try PriceTable.configured(parsing: Array(text.utf8), file: "choreo.json")
            } throws: { "\($0)".contains(message) }
        }
    }

    @Test func aChargeIsTheFinalUsageElseAMarkedWorstCaseEstimate() {
        let table = PriceTable(entries: [("m", price)])
        let body: JSONValue = ["model": "m", "messages": [["role": "user", "content": "Hello there"]], "max_tokens": 100]
        let reported = CompletionUsage(promptTokens: 9, completionTokens: 40, cachedPromptTokens: 4)
        let final = AttemptCharge.of(reported: reported, isFinal: true, bounds: RequestBounds(body, provider: .openAI), model: "m", receivedBytes: 150, prices: table)
        #expect(!final.estimated && final.usage == reported && final.costUSD == price.cost(reported))
        // Cut before the final usage: the prompt at its bound, the output at max_tokens, dearest rate.
        let bound = RequestBounds.promptTokens(body)
        #expect(bound >= "Hello there".utf8.count)
        let cut = AttemptCharge.of(reported: nil, isFinal: false, bounds: RequestBounds(body, provider: .openAI), model: "m", receivedBytes: 20, prices: table)
        #expect(cut.estimated && cut.usage.promptTokens == bound && cut.usage.completionTokens == 100)
        #expect(cut.costUSD == price.worstCase(promptTokens: bound, completionTokens: 100))
        // A running count (Gemini) gives the exact prompt; the output is still bounded by max_tokens.
        let running = AttemptCharge.of(reported: reported, isFinal: false, bounds: RequestBounds(body, provider: .gemini), model: "m", receivedBytes: 20, prices: table)
        #expect(running.estimated && running.usage.promptTokens == 9 && running.usage.completionTokens == 100)
        // Anthropic's default max_tokens bounds a request that sets none; others have no bound.
        #expect(RequestBounds.completionTokens(["messages": []], provider: .anthropic) == AnthropicWire.defaultMaxTokens)
        #expect(RequestBounds.completionTokens(["messages": []], provider: .openAI) == nil)
        // No price: the cost is unknown, not zero.
        #expect(AttemptCharge.of(reported: reported, isFinal: true, bounds: RequestBounds(body, provider: .openAI), model: "x", receivedBytes: 0, prices: table).costUSD == nil)
    }

    /// Many tasks reserve and settle at once, each settling at a random share of its reservation:
    /// what is spent never passes the cap, and jobs keep starting while room is left.
    @Test func theLedgerNeverLetsSpendingPassTheCap() async {
        for round in 0..<20 {
            let ledger = BudgetLedger(run: 1.0, batches: ["b": BudgetLedger.Cap(limit: 0.8, spent: 0.1)])
            let started = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        guard let r = await ledger.reserve(batch: i % 2 == 0 ? "b" : "other", amount: 0.05) else { return false }
                        await Task.yield()
                        ledger.settle(r, cost: 0.05 * Double((i * 7 + round) % 10) / 10)
                        return true
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            let run = ledger.run!
            #expect(run.spent <= 1.0 + 1e-9, "round \(round)")
            #expect(started >= 20)  // settling below the reservation frees room for more
            if started < 64 { #expect(ledger.reached != nil) }
        }
    }

    @Test func aWaitingReservationEndsWhenCancelled() async {
        let ledger = BudgetLedger(run: 1.0)
        let first = await ledger.reserve(batch: "b", amount: 0.9)
        #expect(first != nil)
        let waiter = Task { await ledger.reserve(batch: "b", amount: 0.5) }
        waiter.cancel()
        #expect(await waiter.value == nil)
        ledger.settle(first!, cost: 0.9)
        #expect(await ledger.reserve(batch: "b", amount: 0.5) == nil)  // 0.1 left and nothing outstanding: reached
        #expect(ledger.reached?.spent == 0.9)
    }

    @Test func moneyReadsAsDollars() {
        #expect(Money.usd(24.914) == "$24.91")
        #expect(Money.usd(0.00123) == "$0.0012")
        #expect(Money.usd(0.0000169) == "$0.000017")
        #expect(Money.usd(nil) == "unknown")
        #expect(Money.grouped(1204) == "1,204")
    }
}
