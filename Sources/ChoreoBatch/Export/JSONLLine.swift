import ChoreoAI

/// One JSON object per job with Choreo's own columns (keys in a fixed order, `tool_calls` as JSON).
enum JSONLLine {
    static func write(_ r: ExportRecord, to out: inout String) {
        out += #"{"id":"#
        out += String(r.id)
        field("custom_id", r.customID, &out)
        int("line", r.line, &out)
        field("state", r.state, &out)
        field("url", r.endpoint.rawValue, &out)
        field("model", r.model, &out)
        int("priority", r.priority, &out)
        field("output", r.output, &out)
        field("reasoning", r.reasoning, &out)
        field("partial_output", r.output == nil ? r.partialOutput : nil, &out)
        // An unfinished answer of several choices: every choice's text so far (JSON, as stored).
        out += #","partial_choices":"#
        out += (r.output == nil ? r.partialChoices : nil) ?? "null"
        // An embeddings job's vector (a string input) or vectors (an array), as JSON numbers.
        out += #","embedding":"#
        out += r.embeddingJSON ?? "null"
        int("dimensions", r.embedding?.dimensions, &out)
        out += #","tool_calls":"#
        out += r.toolCalls.flatMap { $0.isEmpty ? nil : $0 } ?? "null"  // stored by Choreo as JSON text
        field("finish_reason", r.finishReason, &out)
        field("provider_finish_reason", r.providerFinishReason, &out)
        int("prompt_tokens", r.promptTokens, &out)
        int("completion_tokens", r.completionTokens, &out)
        int("total_tokens", r.totalTokens, &out)
        int("cached_prompt_tokens", r.cachedPromptTokens, &out)
        int("cache_write_tokens", r.cacheWriteTokens, &out)
        int("reasoning_tokens", r.reasoningTokens, &out)
        number("cost_usd", r.costUSD, &out)
        field("cached_from", r.cachedFrom, &out)
        int("attempts", r.attempts, &out)
        int("http_status", r.httpStatus, &out)
        field("request_id", r.requestID, &out)
        field("error_kind", r.errorKind, &out)
        field("error_message", r.errorMessage, &out)
        int("first_token_ms", r.firstTokenMs, &out)
        int("duration_ms", r.durationMs, &out)
        number("started_at", r.startedAt, &out)
        number("finished_at", r.finishedAt, &out)
        out += #","metadata":"#
        out += r.metadata.flatMap { $0.isEmpty ? nil : $0 } ?? "null"  // the submitted object, stored as JSON text
        out += "}\n"
    }

    private static func key(_ name: String, _ out: inout String) {
        out += ",\""
        out += name
        out += "\":"
    }

    private static func field(_ name: String, _ value: String?, _ out: inout String) {
        key(name, &out)
        if let value { JSONValue.writeString(value, to: &out) } else { out += "null" }
    }

    private static func int(_ name: String, _ value: Int?, _ out: inout String) {
        key(name, &out)
        out += value.map { String($0) } ?? "null"
    }

    private static func number(_ name: String, _ value: Double?, _ out: inout String) {
        key(name, &out)
        out += value.map { JSONValue.double($0).jsonString } ?? "null"
    }
}

/// RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they hold `,` `"` CR or LF.
enum CSVLine {
    static let header = "custom_id,state,model,finish_reason,prompt_tokens,completion_tokens,total_tokens,attempts,duration_ms,error_kind,error_message,cached_prompt_tokens,reasoning_tokens,cost_usd,priority,cached_from,output\r\n"

    static func write(_ r: ExportRecord, to out: inout String) {
        let fields: [String?] = [
            r.customID, r.state, r.model, r.finishReason, r.promptTokens.map(String.init), r.completionTokens.map(String.init),
            r.totalTokens.map(String.init), String(r.attempts), r.durationMs.map(String.init), r.errorKind, r.errorMessage,
            r.cachedPromptTokens.map(String.init), r.reasoningTokens.map(String.init), r.costUSD.map { JSONValue.double($0).jsonString },
            String(r.priority), r.cachedFrom, r.output,
        ]
        for (i, f) in fields.enumerated() {
            if i > 0 { out += "," }
            if let f { quote(f, to: &out) }
        }
        out += "\r\n"
    }

    static func quote(_ field: String, to out: inout String) {
        let needsQuotes = field.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard needsQuotes else { out += field; return }
        out += "\""
        for ch in field.unicodeScalars {
            if ch == "\"" { out += "\"\"" } else { out.unicodeScalars.append(ch) }
        }
        out += "\""
    }
}

/// For people: a heading line per job, then its output (or its error), then a blank line.
enum TextBlock {
    static func write(_ r: ExportRecord, to out: inout String) {
        out += "=== "
        out += r.customID
        switch r.state {
        case "succeeded":
            out += r.finishReason.map { $0 == "stop" ? "" : " (finish: \($0))" } ?? ""
            out += r.cachedFrom.map { " (from the cache: \($0))" } ?? ""
            out += "\n"
            if let text = r.output, !text.isEmpty {
                out += text
            } else if let calls = r.toolCalls {
                out += "[tool calls] " + calls
            } else if let e = r.embedding {
                out += e.summary()
            }
        case "failed", "cancelled":
            out += " (\(r.state)" + (r.errorKind.map { ": \($0)" } ?? "") + ")\n"
            out += r.errorMessage ?? ""
        default:
            out += " (\(r.state))\n"
            if let partial = r.partialOutput, !partial.isEmpty { out += partial + " […]" }
        }
        out += "\n\n"
    }
}
