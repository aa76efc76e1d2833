import ChoreoSQLite
/// The built-in list prices, USD per million tokens, for the synchronous (streamed) APIs Choreo
/// calls. Source: pydantic/genai-prices @47df840 (2026-08-21), which cites each provider's
/// pricing page; Anthropic rows also match a stored copy of Anthropic's pricing page. The date
/// on each row is when that source last checked it (shared/reference/wire-formats-2.md §7).
///
/// Not modelled: the long-context tiers (gpt-5.4 over 272k input, Sonnet 4.5 and Gemini 2.5 Pro
/// over 200k, billed higher), Anthropic's 1-hour cache writes (the 5-minute rate is used), audio
/// input, and the 50 % batch-API discounts (Choreo does not use the providers' batch APIs).
/// Prices change: override them in `choreo.json` (`prices`), see docs/cost.md.
enum BuiltInPrices {
    /// When this table was compiled.
    static let date = "2026-08-21"

    static let entries: [(pattern: String, price: Price)] = rows.flatMap { row in
        // A dated snapshot (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) costs what its alias costs.
        row.names.flatMap { name in [(name, row.price), (name + "-2*", row.price)] }
    }

    private struct Row {
        var names: [String]
        var price: Price
        init(_ names: [String], _ input: Double, cached: Double? = nil, write: Double? = nil, _ output: Double, checked: String) {
            self.names = names
            self.price = Price(input: input, cachedInput: cached, cacheWrite: write, output: output,
                               source: "built-in (genai-prices, checked \(checked))")
        }
    }

    private static let rows: [Row] = [
        // OpenAI: no separate cache-write price.
        Row(["gpt-4o"], 2.50, cached: 1.25, 10.00, checked: "2025-07-04"),
        Row(["gpt-4o-mini"], 0.15, cached: 0.075, 0.60, checked: "2025-07-04"),
        Row(["gpt-4.1"], 2.00, cached: 0.50, 8.00, checked: "2025-07-04"),
        Row(["gpt-4.1-mini"], 0.40, cached: 0.10, 1.60, checked: "2025-07-04"),
        Row(["gpt-4.1-nano"], 0.10, cached: 0.025, 0.40, checked: "2025-07-04"),
        Row(["o1"], 15.00, cached: 7.50, 60.00, checked: "2025-07-04"),
        Row(["o3"], 2.00, cached: 0.50, 8.00, checked: "2025-07-12"),
        Row(["o3-mini"], 1.10, cached: 0.55, 4.40, checked: "2025-07-04"),
        Row(["o4-mini"], 1.10, cached: 0.275, 4.40, checked: "2025-07-04"),
        Row(["gpt-5", "gpt-5.1"], 1.25, cached: 0.125, 10.00, checked: "2025-11-13"),
        Row(["gpt-5-mini"], 0.25, cached: 0.025, 2.00, checked: "2025-11-13"),
        Row(["gpt-5-nano"], 0.05, cached: 0.005, 0.40, checked: "2025-11-13"),
        Row(["gpt-5.2"], 1.75, cached: 0.175, 14.00, checked: "2025-12-11"),
        Row(["gpt-5.4"], 2.50, cached: 0.25, 15.00, checked: "2026-03-06"),
        Row(["gpt-5.5"], 5.00, cached: 0.50, 30.00, checked: "2026-04-24"),
        Row(["text-embedding-3-small"], 0.02, 0, checked: "2025-07-04"),
        Row(["text-embedding-3-large"], 0.13, 0, checked: "2025-07-04"),
        // Anthropic: cache write is the 5-minute rate; all checked 2026-07-29.
        Row(["claude-haiku-4-5"], 1.00, cached: 0.10, write: 1.25, 5.00, checked: "2026-07-29"),
        Row(["claude-sonnet-4-5", "claude-sonnet-4-6"], 3.00, cached: 0.30, write: 3.75, 15.00, checked: "2026-07-29"),
        Row(["claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5"],
            5.00, cached: 0.50, write: 6.25, 25.00, checked: "2026-07-29"),
        Row(["claude-opus-4-1"], 15.00, cached: 1.50, write: 18.75, 75.00, checked: "2026-07-29"),
        // Google Gemini API, paid tier; output includes thinking tokens.
        Row(["gemini-2.0-flash"], 0.10, cached: 0.025, 0.40, checked: "2025-07-04"),
        Row(["gemini-2.0-flash-lite"], 0.075, 0.30, checked: "2025-07-04"),
        Row(["gemini-2.5-flash"], 0.30, cached: 0.03, 2.50, checked: "2025-10-31"),
        Row(["gemini-2.5-flash-lite"], 0.10, cached: 0.01, 0.40, checked: "2025-10-31"),
        Row(["gemini-2.5-pro"], 1.25, cached: 0.125, 10.00, checked: "2025-10-31"),
    ]
}
