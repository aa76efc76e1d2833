/// The few spellings in which the two stores' SQL differs, for the reads written once for both
/// (`BatchStore.read`): everything else in them is SQL both accept.
public enum SQLDialect: Sendable {
    case sqlite, postgres

    /// The JSON member `key` of the text column `column`, NULL when absent or JSON null.
    func jsonField(_ column: String, _ key: String) -> String {
        switch self {
        case .sqlite: "json_extract(\(column), '$.\(key)')"
        case .postgres: "(\(column)::json ->> '\(key)')"
        }
    }

    /// The length in bytes of the compact JSON in the text column `column` (SQLite minifies it,
    /// as the estimate counts a file's lines; the stored request is compact already).
    func compactJSONBytes(_ column: String) -> String {
        switch self {
        case .sqlite: "length(CAST(json(\(column)) AS BLOB))"
        case .postgres: "octet_length(\(column))"
        }
    }

    /// Whether `column` is one of the lines of the text `parameter` (ids have no newline).
    func isOneOfLines(_ column: String, _ parameter: String) -> String {
        switch self {
        case .sqlite: "instr(char(10) || \(parameter) || char(10), char(10) || \(column) || char(10)) > 0"
        case .postgres: "strpos(chr(10) || \(parameter) || chr(10), chr(10) || \(column) || chr(10)) > 0"
        }
    }
}
