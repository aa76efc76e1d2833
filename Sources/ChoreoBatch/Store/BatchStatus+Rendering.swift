public import ChoreoAI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BatchStatus {
    /// OpenAI's batch `status` vocabulary (wire-formats §5.3) for this batch.
    public var openAIStatus: String {
        switch state {
        case "completed": return "completed"
        case "cancelled": return count("running") > 0 ? "cancelling" : "cancelled"
        default: return "in_progress"
        }
    }

    /// The machine view: OpenAI's batch object fields where they fit, then Choreo's extras.
    public var json: JSONValue {
        func time(_ t: Double?) -> JSONValue { t.map { .int(Int64($0)) } ?? .null }
        func number(_ d: Double?) -> JSONValue { d.map { .double(($0 * 100).rounded() / 100) } ?? .null }
        return [
            "id": .string(id),
            "object": "batch",
            // OpenAI's batch has one endpoint; a Choreo batch may mix them (then null, and
            // `endpoints` lists them). A batch submitted before they were recorded: chat.
            "endpoint": endpoints.count > 1 ? .null : .string(endpoints.first ?? JobEndpoint.chatCompletions.rawValue),
            "status": .string(openAIStatus),
            "created_at": time(createdAt),
            "in_progress_at": time(startedAt),
            "completed_at": time(completedAt),
            "cancelled_at": time(cancelledAt),
            "request_counts": ["total": .int(Int64(totalJobs)), "completed": .int(Int64(count("succeeded"))), "failed": .int(Int64(count("failed")))],
            "usage": ["input_tokens": .int(Int64(promptTokens)), "output_tokens": .int(Int64(completionTokens)),
                      "total_tokens": .int(Int64(promptTokens + completionTokens))],
            "metadata": name.map { ["name": .string($0)] } ?? .null,
            // Choreo's own fields.
            "name": name.map { .string($0) } ?? .null,
            "state": .string(state),
            "jobs": .object(jobs.mapValues { .int(Int64($0)) }),
            "failures": .object(failuresJSON),
            "rejected_lines": .int(Int64(rejectedLines)),
            "endpoints": .array(endpoints.map(JSONValue.string)),
            "source_file": sourceFile.map { .string($0) } ?? .null,
            "source_sha256": sourceSHA256.map { .string($0) } ?? .null,
            "finished_at": time(isFinished ? finishedAt : nil),
            "elapsed_s": number(elapsed),
            "jobs_per_s": number(jobsPerSecond),
            "output_tokens_per_s": number(outputTokensPerSecond),
            "cost": costJSON,
            "cache": ["jobs": .int(Int64(cachedJobs)), "saved_usd": .double(cacheSavedUSD)],
        ]
    }

    /// `cost_usd` null means unknown (a model without a price), never zero.
    private var costJSON: JSONValue {
        func usd(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
        var models: [String: JSONValue] = [:]
        for c in costs {
            models[c.model] = [
                "cost_usd": usd(c.usd), "attempts": .int(Int64(c.attempts)), "unpriced_attempts": .int(Int64(c.unpricedAttempts)),
                "estimated_attempts": .int(Int64(c.estimatedAttempts)), "prompt_tokens": .int(Int64(c.promptTokens)),
                "cached_prompt_tokens": .int(Int64(c.cachedPromptTokens)), "cache_write_tokens": .int(Int64(c.cacheWriteTokens)),
                "completion_tokens": .int(Int64(c.completionTokens)), "reasoning_tokens": .int(Int64(c.reasoningTokens)),
            ]
        }
        return ["cost_usd": usd(costUSD), "budget_usd": usd(budgetUSD),
                "estimated_attempts": .int(Int64(costs.reduce(0) { $0 + $1.estimatedAttempts })), "models": .object(models)]
    }

    private var failuresJSON: [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for f in failures { object[f.kind] = .int(Int64(f.count)) }
        return object
    }

    /// The human view: a few aligned lines.
    public func rendered() -> String {
        var lines: [String] = []
        var head = id
        if let name { head += "  \"\(name)\"" }
        head += "  \(shownState)  created \(Self.formatDate(createdAt))"
        lines.append(head)
        lines.append("  jobs      \(totalJobs) total: " + ResultExporter.jobStates.map { "\(count($0)) \($0)" }.joined(separator: ", ")
                     + (rejectedLines > 0 ? "  (\(rejectedLines) rejected lines)" : ""))
        if state == "cancelled" {
            // Cancelled jobs did not run: the bar shows what did, not a full bar.
            let ran = count("succeeded") + count("failed")
            let percent = totalJobs > 0 ? Double(ran) * 100 / Double(totalJobs) : 0
            lines.append("  progress  " + Self.bar(percent / 100) + " " + String(format1: percent) + "% ran; "
                         + (count("running") > 0 ? "cancelling (\(count("running")) jobs still stopping)" : "cancelled")
                         + "  (`choreo resume \(id) --cancelled` requeues the \(count("cancelled")) cancelled jobs)")
        } else {
            let percent = totalJobs > 0 ? Double(doneJobs) * 100 / Double(totalJobs) : 100
            lines.append("  progress  " + Self.bar(percent / 100) + " " + String(format1: percent) + "%"
                         + (isInterrupted ? "; nothing is running (`choreo run` continues it)" : ""))
        }
        lines.append("  tokens    \(Self.grouped(promptTokens)) in / \(Self.grouped(completionTokens)) out")
        if !costs.isEmpty || budgetUSD != nil {
            var line = "  cost      \(Money.usd(costUSD))"
            if costs.count > 1 || costs.contains(where: { $0.usd == nil }) {
                line += " (" + costs.map { "\($0.model) \(Money.usd($0.usd))" }.joined(separator: ", ") + ")"
            }
            let estimated = costs.reduce(0) { $0 + $1.estimatedAttempts }
            if estimated > 0 { line += "  incl. \(estimated) estimated attempts" }
            if let budgetUSD { line += "  budget \(Money.usd(budgetUSD))" }
            lines.append(line)
            let cached = costs.reduce(0) { $0 + $1.cachedPromptTokens }, reasoning = costs.reduce(0) { $0 + $1.reasoningTokens }
            if cached > 0 || reasoning > 0 {
                lines.append("  details   \(Self.grouped(cached)) cached prompt / \(Self.grouped(reasoning)) reasoning tokens (all attempts)")
            }
        }
        if cachedJobs > 0 {
            lines.append("  cache     \(Self.grouped(cachedJobs)) jobs answered from the cache, saving \(Money.usd(cacheSavedUSD))")
        }
        if !failures.isEmpty {
            var line = "  failures  " + failures.map { "\($0.kind) \($0.count)" }.joined(separator: ", ")
            // Jobs never sent because their provider was stopped: say how to send them.
            if failures.contains(where: { $0.kind == FailureKind.providerStopped.rawValue }) {
                line += "; provider_stopped were never sent (`choreo resume \(id)` sends them)"
            }
            lines.append(line)
        }
        if let elapsed {
            var line = "  elapsed   \(Self.formatDuration(elapsed))"
            if let rate = jobsPerSecond { line += "  \(String(format1: rate)) jobs/s" }
            if let rate = outputTokensPerSecond { line += ", \(String(format1: rate)) tokens/s out" }
            lines.append(line)
        }
        if let sourceFile { lines.append("  source    \(sourceFile)") }
        return lines.joined(separator: "\n")
    }

    static func bar(_ fraction: Double, width: Int = 24) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return seconds < 10 ? String(format1: seconds) + "s" : "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\(s % 3600 / 60)m"
    }

    /// Local time, `YYYY-MM-DD HH:MM:SS`.
    static func formatDate(_ t: Double) -> String {
        var seconds = time_t(t)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}

extension String {
    /// One decimal place, without Foundation's `String(format:)`.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}
