/// An error the CLI reports as one line and exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A usage or configuration problem found after parsing: one line and exit code 2, without the
/// usage text (which would not help: the arguments were well-formed).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
