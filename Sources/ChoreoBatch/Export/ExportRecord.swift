public import ChoreoAI
import ChoreoSQLite
/// One job as the exporters see it: the columns of `jobs` that results are made of.
public struct ExportRecord: Sendable {
    public var id: Int64
    public var customID: String
    public var line: Int
    public var state: String
    public var model: String
    public var output: String?
    public var partialOutput: String?
    /// Every choice's partial text of an answer of several choices (`n > 1`): JSON text of an
    /// array of strings, in index order (`jobs.partial_choices`).
    public var partialChoices: String?
    /// JSON text of the OpenAI `tool_calls` array.
    public var toolCalls: String?
    public var finishReason: String?
    public var providerFinishReason: String?
    /// JSON text of the rebuilt `chat.completion` object (a `response` object for a `/v1/responses` job).
    public var response: String?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var totalTokens: Int?
    public var attempts: Int
    public var httpStatus: Int?
    public var requestID: String?
    public var errorKind: String?
    public var errorMessage: String?
    public var firstTokenMs: Int?
    public var durationMs: Int?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// Usage details of the answer, and what every attempt of the job cost in USD (nil: unknown,
    /// a model without a price, or no attempt yet).
    public var cachedPromptTokens: Int?
    public var cacheWriteTokens: Int?
    public var reasoningTokens: Int?
    public var costUSD: Double?
    /// The provider's own error object of the last HTTP failure (JSON text), as it sent it.
    public var errorBody: String?
    /// The job's `metadata` object as submitted (JSON text).
    public var metadata: String?
    /// The model's reasoning, apart from `output`.
    public var reasoning: String?
    /// Where it stands in the claim order (higher first), and its own bound on each attempt's
    /// time in seconds (nil: its provider's).
    public var priority: Int
    public var timeoutSeconds: Double?
    /// For a job answered from the request cache: where the answer came from
    /// (`<batch>/<custom_id>`, prefixed by a shared cache file), and what it had cost.
    public var cachedFrom: String?
    public var cacheSavedUSD: Double?
    /// The endpoint the job asked for (`jobs.url`).
    public var endpoint: JobEndpoint
    /// An embeddings job's vectors (`jobs.embedding` and `jobs.dimensions`), nil until it succeeded.
    public var embedding: Embeddings?
    /// An embeddings job's request: whether its `input` was one string (its answer is one
    /// vector) rather than an array, and whether it asked for `encoding_format: "base64"`.
    public var embeddingsInputIsText = false
    public var embeddingsBase64 = false

    /// The columns `init(row:)` reads, in order.
    private static let columnNames = [
        "id", "custom_id", "line", "state", "model", "output", "partial_output", "tool_calls", "finish_reason",
        "provider_finish_reason", "response", "prompt_tokens", "completion_tokens", "total_tokens", "attempts",
        "http_status", "request_id", "error_kind", "error_message", "first_token_ms", "duration_ms", "created_at",
        "started_at", "finished_at", "cached_prompt_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
        "error_body", "metadata", "reasoning", "priority", "timeout_seconds", "cached_from", "cache_saved_usd",
        "url", "embedding", "dimensions", "partial_choices",
    ]
    /// An embeddings request's shape, read only for embeddings jobs (a chat request is not
    /// parsed): the JSON type of its `input` (`text` for a string, in SQLite's words) and its
    /// `encoding_format`. The one part of the list the two databases spell differently. SQLite
    /// keeps the request in `job_requests` (schema 19).
    private static let sqliteRequestShape = [
        "CASE WHEN url = '/v1/embeddings' THEN (SELECT json_type(request, '$.input') FROM job_requests WHERE job_id = jobs.id) END",
        "CASE WHEN url = '/v1/embeddings' THEN (SELECT json_extract(request, '$.encoding_format') FROM job_requests WHERE job_id = jobs.id) END",
    ]
    private static let postgresRequestShape = [
        "CASE WHEN url = '/v1/embeddings' THEN (CASE json_typeof(request::json -> 'input') WHEN 'string' THEN 'text' END) END",
        "CASE WHEN url = '/v1/embeddings' THEN request::json ->> 'encoding_format' END",
    ]
    /// On SQLite a job still streaming (or whose runner died mid-stream) has its text so far in
    /// `live_partials` (schema 18), which supersedes its partial columns while it exists.
    private static let sqliteColumnNames = columnNames.map { name in
        switch name {
        case "partial_output", "partial_choices":
            return Schema.livePartial(name == "partial_output" ? "text" : "choices", else: name)
        default: return name
        }
    }
    /// How many columns `columns(includingResponse:)` selects: a query that selects more after
    /// them finds its own from this index on.
    static let columnCount = columnNames.count + sqliteRequestShape.count
    private static let columnsWithResponse = (sqliteColumnNames + sqliteRequestShape).joined(separator: ", ")
    private static let columnsWithoutResponse = withoutResponse(sqliteColumnNames + sqliteRequestShape)
    private static let postgresColumnsWithResponse = (columnNames + postgresRequestShape).joined(separator: ", ")
    private static let postgresColumnsWithoutResponse = withoutResponse(columnNames + postgresRequestShape)

    private static func withoutResponse(_ names: [String]) -> String {
        names.map { $0 == "response" ? "NULL AS response" : $0 }.joined(separator: ", ")
    }

    /// The SELECT list matching `init(row:)`, on SQLite or (`postgres`) PostgreSQL. Without
    /// `includingResponse`, `response` (the rebuilt `chat.completion`, the largest column, which
    /// only the openai format writes) is not read: `NULL AS response` keeps its place, so every
    /// column keeps its position.
    static func columns(includingResponse: Bool, postgres: Bool = false) -> String {
        postgres
            ? (includingResponse ? postgresColumnsWithResponse : postgresColumnsWithoutResponse)
            : (includingResponse ? columnsWithResponse : columnsWithoutResponse)
    }

    init(row: some StoreRow) {
        id = row.int64(0) ?? 0
        customID = row.string(1) ?? ""
        line = row.int(2) ?? 0
        state = row.string(3) ?? ""
        model = row.string(4) ?? ""
        output = row.string(5)
        partialOutput = row.string(6)
        toolCalls = row.string(7)
        finishReason = row.string(8)
        providerFinishReason = row.string(9)
        response = row.string(10)
        promptTokens = row.int(11)
        completionTokens = row.int(12)
        totalTokens = row.int(13)
        attempts = row.int(14) ?? 0
        httpStatus = row.int(15)
        requestID = row.string(16)
        errorKind = row.string(17)
        errorMessage = row.string(18)
        firstTokenMs = row.int(19)
        durationMs = row.int(20)
        createdAt = row.double(21) ?? 0
        startedAt = row.double(22)
        finishedAt = row.double(23)
        cachedPromptTokens = row.int(24)
        cacheWriteTokens = row.int(25)
        reasoningTokens = row.int(26)
        costUSD = row.double(27)
        errorBody = row.string(28)
        metadata = row.string(29)
        reasoning = row.string(30)
        priority = row.int(31) ?? 0
        timeoutSeconds = row.double(32)
        cachedFrom = row.string(33)
        cacheSavedUSD = row.double(34)
        endpoint = JobEndpoint(stored: row.string(35))
        if let blob = row.blob(36), let dimensions = row.int(37), dimensions > 0, let values = Embeddings.values(float32LittleEndian: blob) {
            embedding = Embeddings(values: values, dimensions: dimensions, model: model, promptTokens: promptTokens)
        }
        partialChoices = row.string(38)
        embeddingsInputIsText = row.string(39) == "text"
        embeddingsBase64 = row.string(40) == "base64"
    }

    /// An embeddings job's answer as its `input` was shaped: the vector of a string input, the
    /// list of vectors of an array (nil: no vectors yet). JSON text.
    var embeddingJSON: String? {
        guard let e = embedding else { return nil }
        if embeddingsInputIsText && e.count == 1 {
            var out = ""
            Embeddings.writeJSONArray(e.vector(0), to: &out)
            return out
        }
        var out = "["
        for i in 0..<e.count {
            if i > 0 { out += "," }
            Embeddings.writeJSONArray(e.vector(i), to: &out)
        }
        return out + "]"
    }
}
