/// The endpoint a job asks for: its OpenAI Batch line's `url` (`jobs.url`). A short-form line
/// is a chat completion.
public enum JobEndpoint: String, Sendable, Hashable, CaseIterable {
    /// Streamed chat completions: the job's answer is text (`jobs.output`).
    case chatCompletions = "/v1/chat/completions"
    /// Embeddings, not streamed: the job's answer is vectors (`jobs.embedding`), and jobs of one
    /// model and parameters share requests (`EmbeddingsRequest`).
    case embeddings = "/v1/embeddings"
    /// OpenAI's Responses API, streamed: the job's answer is text (`jobs.output`) as a chat job's,
    /// and its export body a `response` object (`ResponseObject`). OpenAI-compatible providers only.
    case responses = "/v1/responses"

    /// The endpoint of a stored `url`; an unknown one (a newer version's) reads as chat, which is
    /// what every job was before the column existed.
    public init(stored: String?) { self = stored.flatMap(Self.init(rawValue:)) ?? .chatCompletions }
}
