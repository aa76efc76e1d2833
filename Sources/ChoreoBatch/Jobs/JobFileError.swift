/// One rejected line of a job file: where (1-based line, field path), what (an OpenAI Batch-style
/// code) and why (a sentence).
///
/// Codes: `invalid_json_line`, `invalid_utf8`, `line_too_large`, `invalid_type` (a value or the
/// line has the wrong JSON type), `missing_required_parameter`, `invalid_value`, `url_mismatch`,
/// `duplicate_custom_id`, `duplicate_key` (a key repeated in one object), `empty_file`,
/// `unknown_field`, `unknown_parameter`, `unsupported_parameter`, `unknown_model`, and
/// `unsupported_endpoint` (an embeddings line for a provider without embeddings).
public struct JobLineError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    /// The JSON path of the offending value (`body.messages[1].role`), nil for the whole line.
    public var field: String?
    public var code: String
    public var message: String

    public init(line: Int, field: String?, code: String, message: String) {
        self.line = line
        self.field = field
        self.code = code
        self.message = message
    }

    public var description: String {
        "line \(line)" + (field.map { ", \($0)" } ?? "") + ": \(code): \(message)"
    }
}

/// A job file that cannot be submitted as it is. Lists every problem found in the file.
public struct JobFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var errors: [JobLineError]
    /// The submit already skipped invalid lines, and none was valid: suggesting --skip-invalid
    /// again would not help.
    public var skippedInvalid: Bool

    public init(path: String, errors: [JobLineError], skippedInvalid: Bool = false) {
        self.path = path
        self.errors = errors
        self.skippedInvalid = skippedInvalid
    }

    /// A report for people: what happened, the first `limit` problems, and what to do.
    public func report(limit: Int = 50) -> String {
        if errors.map(\.code) == ["empty_file"] {
            return "\(path): the file has no job lines (it is empty or blank); nothing was submitted"
        }
        return "\(path): \(errors.count) invalid line\(errors.count == 1 ? "" : "s"); nothing was submitted\n"
            + listing(limit: limit)
            + (skippedInvalid ? "\nNo line was valid: fix the lines above."
                              : "\nFix the lines above, or submit with --skip-invalid to accept only the valid ones.")
    }

    /// The first `limit` problems, one per line, then a count of the rest.
    public func listing(limit: Int = 50) -> String {
        var lines = errors.prefix(limit).map { "  \($0)" }
        if errors.count > limit { lines.append("  … and \(errors.count - limit) more") }
        return lines.joined(separator: "\n")
    }

    public var description: String { report() }
}

/// The job file could not be read at all (missing, unreadable, changed while reading).
public struct JobFileReadError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot read job file \(path): \(reason)" }
}
