public import ChoreoAI
public import ChoreoSQLite

/// Everything about one job, for `choreo show`: its request, state, attempts and output.
public struct JobDetail: Sendable {
    /// One row of the `attempts` table.
    public struct Attempt: Sendable {
        public var number: Int
        public var runner: String?
        public var startedAt: Double
        public var endedAt: Double?
        public var outcome: String?
        public var httpStatus: Int?
        public var errorKind: String?
        public var errorMessage: String?
        public var charsReceived: Int
        public var continuedFromChars: Int?
        public var requestID: String?
        /// What a failed or interrupted attempt received before it ended.
        public var receivedText: String?
        /// How this attempt continued a cut job (`prefill`, `continue_final_message`, `restart`)
        /// and why; nil when nothing had been kept.
        public var continuation: String?
        public var continuationReason: String?
        /// What the attempt was billed (nil: not recorded, an attempt of an older version or a
        /// runner that died during it).
        public var charge: AttemptCharge? = nil

        /// What `init(row:)` reads from `attempts`.
        static let columns = """
            number, runner, started_at, ended_at, outcome, http_status, error_kind, error_message, chars_received,
            continued_from_chars, request_id, received_text, continuation, continuation_reason,
            prompt_tokens, cached_prompt_tokens, cache_write_tokens, completion_tokens, reasoning_tokens, usage_estimated, cost_usd
            """

        var json: JSONValue {
            func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
            func int(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
            let object: [String: JSONValue] = [
                "number": int(number), "runner": text(runner), "started_at": .double(startedAt),
                "ended_at": endedAt.map { .double($0) } ?? .null, "outcome": text(outcome), "http_status": int(httpStatus),
                "error_kind": text(errorKind), "error_message": text(errorMessage), "chars_received": int(charsReceived),
                "continued_from_chars": int(continuedFromChars), "request_id": text(requestID),
                "received_text": text(receivedText), "continuation": text(continuation),
                "continuation_reason": text(continuationReason),
            ]
            var o = object
            if let c = charge {
                o["usage"] = c.usage.json
                o["usage_estimated"] = .bool(c.estimated)
                o["cost_usd"] = c.costUSD.map { .double($0) } ?? .null
            }
            return .object(o)
        }
    }

    public var batchID: String
    public var record: ExportRecord
    /// The stored request body (JSON text).
    public var request: String
    public var notBefore: Double?
    public var leaseOwner: String?
    public var attempts: [Attempt]

    /// Finds a job by numeric id or by custom_id (within `batch` when given).
    public static func load(_ db: Database, job reference: String, batch: String? = nil) throws -> JobDetail {
        var candidates: [(id: Int64, batchID: String)] = []
        // Jobs of a batch still being submitted are not there yet.
        var hidden: Set<String> = []
        try db.query("SELECT id FROM batches WHERE state = 'submitting'") { hidden.insert($0.string(0) ?? "") }
        func add(_ row: Row) {
            let batchID = row.string(1) ?? ""
            if !hidden.contains(batchID) { candidates.append((row.int64(0)!, batchID)) }
        }
        if let batch {
            let batchID = try db.batchID(matching: batch)
            try db.query("SELECT id, batch_id FROM jobs WHERE batch_id = ? AND custom_id = ?", [.text(batchID), .text(reference)], add)
        } else {
            try db.query("SELECT id, batch_id FROM jobs WHERE custom_id = ? ORDER BY id DESC", [.text(reference)], add)
        }
        if candidates.isEmpty, let numeric = Int64(reference) {
            try db.query("SELECT id, batch_id FROM jobs WHERE id = ?", [.integer(numeric)], add)
        }
        let id = try only(candidates, reference: reference)
        guard var detail = try db.queryOne(
            "SELECT \(ExportRecord.columns(includingResponse: true)), \(Self.columns) FROM jobs WHERE id = ?",
            [.integer(id)], { JobDetail(row: $0) })
        else { throw LookupError.noSuchJob(reference) }
        try db.query("SELECT \(Attempt.columns) FROM attempts WHERE job_id = ? ORDER BY number", [.integer(id)]) { row in
            detail.attempts.append(Attempt(row: row))
        }
        return detail
    }

    /// The one job of the jobs `reference` matched (id and batch of each).
    static func only(_ candidates: [(id: Int64, batchID: String)], reference: String) throws -> Int64 {
        guard let id = candidates.first?.id else { throw LookupError.noSuchJob(reference) }
        if candidates.count > 1 { throw LookupError.ambiguousJob(reference, batches: candidates.map(\.batchID)) }
        return id
    }

    /// The job's own columns, selected after the record's (`ExportRecord.columns`).
    static let columns = "batch_id, \(Schema.jobRequest), not_before, lease_owner"

    /// The human view.
    public func rendered() -> String {
        let r = record
        var out = "job \(r.id)  \(r.customID)  (batch \(batchID), line \(r.line))\n"
        out += "state     \(r.state)" + (r.errorKind.map { "  error: \($0)" } ?? "") + "\n"
        if let message = r.errorMessage { out += "message   \(message)\n" }
        out += "model     \(r.model)" + (r.endpoint == .chatCompletions ? "" : "  (\(r.endpoint.rawValue))") + "\n"
        out += "priority  \(r.priority)" + (r.timeoutSeconds.map { "  timeout: \(JSONValue.double($0).jsonString) s per attempt" } ?? "") + "\n"
        if let p = r.promptTokens { out += "tokens    \(p) in / \(r.completionTokens ?? 0) out\n" }
        if (r.cachedPromptTokens ?? 0) > 0 || (r.reasoningTokens ?? 0) > 0 {
            out += "details   \(r.cachedPromptTokens ?? 0) cached prompt / \(r.reasoningTokens ?? 0) reasoning tokens\n"
        }
        if attempts.contains(where: { $0.charge != nil }) {
            let estimated = attempts.contains { $0.charge?.estimated ?? false }
            out += "cost      \(Money.usd(r.costUSD)) (every attempt" + (estimated ? "; some estimated, worst case" : "") + ")\n"
        }
        if let source = r.cachedFrom {
            out += "cached    answered from the cache: the answer of \(source)"
                + (r.cacheSavedUSD.map { ", which cost \(Money.usd($0))" } ?? "") + "; nothing was sent\n"
        }
        if let f = r.finishReason { out += "finish    \(f)" + (r.providerFinishReason.map { $0 == f ? "" : " (provider: \($0))" } ?? "") + "\n" }
        if let d = r.durationMs { out += "duration  \(d) ms" + (r.firstTokenMs.map { ", first token after \($0) ms" } ?? "") + "\n" }
        out += "\nrequest\n  \(request)\n"
        if !attempts.isEmpty {
            out += "\nattempts\n"
            let rows = [["#", "started", "outcome", "http", "error", "chars", "continued", "tokens in/out", "cost", "request id"]] + attempts.map { a in
                [String(a.number), BatchStatus.formatDate(a.startedAt), a.outcome ?? "running", a.httpStatus.map(String.init) ?? "",
                 a.errorKind ?? "", String(a.charsReceived), a.continuedColumn,
                 a.charge.map { "\($0.usage.promptTokens)/\($0.usage.completionTokens)" + ($0.estimated ? " est." : "") } ?? "",
                 a.charge.map { Money.usd($0.costUSD) } ?? "", a.requestID ?? ""]
            }
            out += TextTable.render(rows, indent: "  ")
            for a in attempts {
                if let how = a.continuation { out += "  #\(a.number): \(how): \(a.continuationReason ?? "")\n" }
                if let m = a.errorMessage { out += "  #\(a.number): \(m)\n" }
                if let t = a.receivedText, !t.isEmpty {
                    let shown = t.count > 120 ? String(t.prefix(120)) + "…" : t
                    out += "      received: \(JSONValue.quoted(shown))\n"
                }
            }
        }
        if let e = r.embedding {
            out += "\nembedding\n\(e.summary())\n"
        } else if let output = r.output {
            out += "\noutput\n\(output)\n"
        } else if let partial = r.partialOutput, !partial.isEmpty {
            out += "\npartial output (\(partial.count) characters so far)\n\(partial)\n"
        }
        if let calls = r.toolCalls { out += "\ntool calls\n  \(calls)\n" }
        return out
    }

    /// The machine view: the job's columns, its request and its attempts. The columns are the
    /// `jsonl` export's line parsed back, so the two views share one field list (`JSONLLine`);
    /// parsing one line per `choreo show` costs nothing worth a second list to keep in step.
    public var json: JSONValue {
        var line = ""
        JSONLLine.write(record, to: &line)
        var object = (try? JSONValue.parse(line)) ?? [:]
        object["batch_id"] = .string(batchID)
        object["timeout_seconds"] = record.timeoutSeconds.map { .double($0) } ?? .null
        object["request"] = (try? JSONValue.parse(request)) ?? .string(request)
        object["attempts_detail"] = .array(attempts.map(\.json))
        return object
    }
}

extension JobDetail.Attempt {
    /// The attempts table's "continued" cell: how a cut job went on, and from how many characters
    /// (`prefill @120`, `restart`), or the character count alone for a database written before
    /// attempts recorded how.
    var continuedColumn: String {
        switch (continuation, continuedFromChars) {
        case let (how?, chars?): return "\(how) @\(chars)"
        case let (how?, nil): return how
        case let (nil, chars?): return String(chars)
        case (nil, nil): return ""
        }
    }
}

extension JobDetail.Attempt {
    init(row: some StoreRow) {
        self.init(
            number: row.int(0) ?? 0, runner: row.string(1), startedAt: row.double(2) ?? 0, endedAt: row.double(3),
            outcome: row.string(4), httpStatus: row.int(5), errorKind: row.string(6), errorMessage: row.string(7),
            charsReceived: row.int(8) ?? 0, continuedFromChars: row.int(9), requestID: row.string(10),
            receivedText: row.string(11), continuation: row.string(12), continuationReason: row.string(13),
            charge: row.int(14).map { p in
                AttemptCharge(usage: CompletionUsage(promptTokens: p, completionTokens: row.int(17) ?? 0, cachedPromptTokens: row.int(15) ?? 0,
                                           cacheWriteTokens: row.int(16) ?? 0, reasoningTokens: row.int(18) ?? 0),
                              estimated: (row.int(19) ?? 0) != 0, costUSD: row.double(20))
            })
    }
}

extension JobDetail {
    /// A job's row: the record's columns, then `columns`; no attempts yet.
    init(row: some StoreRow) {
        let more = Int32(ExportRecord.columnCount)
        self.init(batchID: row.string(more) ?? "", record: ExportRecord(row: row), request: row.string(more + 1) ?? "",
                  notBefore: row.double(more + 2), leaseOwner: row.string(more + 3), attempts: [])
    }
}
