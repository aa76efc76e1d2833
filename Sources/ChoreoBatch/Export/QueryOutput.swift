import ChoreoAI
public import ChoreoSQLite

/// Runs one user-written SQL statement (`choreo sql`) and prints its rows as an aligned table or
/// as JSON lines. Meant for a read-only connection: a write is reported as `QueryError.readOnly`.
public enum QueryOutput {
    public enum Format: Sendable { case table, jsonLines }

    /// Rows used to size the table's columns; later rows stream with the same widths.
    static let sizingRows = 1000

    /// The running-time limit `choreo sql` applies unless told otherwise (`--timeout`).
    public static let defaultTimeLimit: Double = 30

    /// Runs `sql` on `store` (read-only: `BatchStore.query(readOnly:)`) and writes its rows; a
    /// statement still running after `timeLimit` seconds is stopped (`QueryError.timedOut`).
    /// Returns the number of rows.
    @discardableResult
    public static func run(_ store: any BatchStore, sql: String, format: Format, timeLimit: Double? = nil, to out: BufferedWriter) throws -> Int {
        var count = 0
        var header: [String] = []
        var pending: [[String]] = []
        var widths: [Int]?
        try store.query(readOnly: sql, timeLimit: timeLimit) { columns, values in
            if header.isEmpty { header = columns }
            count += 1
            switch format {
            case .jsonLines:
                var object: [String: JSONValue] = [:]
                for (name, value) in zip(header, values) { object[name] = json(value) }
                try out.write(JSONValue.object(object).jsonString + "\n")
            case .table:
                let cells = values.map(cell)
                if let widths {
                    try out.write(TextTable.line(cells, widths))
                } else {
                    pending.append(cells)
                    if pending.count == sizingRows { widths = try flushTable(header, &pending, out) }
                }
            }
        }
        if format == .table {
            if widths == nil, !header.isEmpty { _ = try flushTable(header, &pending, out) }
            try out.write("(\(count) row\(count == 1 ? "" : "s"))\n")
        }
        return count
    }

    /// The same on a SQLite database opened read-only.
    @discardableResult
    public static func run(_ db: Database, sql: String, format: Format, timeLimit: Double? = nil, to out: BufferedWriter) throws -> Int {
        try run(SQLiteBatchStore(db), sql: sql, format: format, timeLimit: timeLimit, to: out)
    }

    private static func flushTable(_ header: [String], _ rows: inout [[String]], _ out: BufferedWriter) throws -> [Int] {
        let all = [header] + rows
        let widths = TextTable.columnWidths(all)
        try out.write(TextTable.render(all))
        rows.removeAll()
        return widths
    }

    static func cell(_ value: SQLValue) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .text(let s): return s.contains(where: \.isNewline) ? s.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: "⏎") : s
        case .blob(let b): return "x'" + hex(b) + "'"
        }
    }

    static func json(_ value: SQLValue) -> JSONValue {
        switch value {
        case .null: return .null
        case .integer(let i): return .int(i)
        case .real(let d): return .double(d)
        case .text(let s): return .string(s)
        case .blob(let b): return .string(hex(b))
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }
}

/// A statement `choreo sql` refused to run.
public enum QueryError: Error, Sendable, CustomStringConvertible {
    case readOnly(String)
    case timedOut(seconds: Double)

    public var description: String {
        switch self {
        case .readOnly(let detail):
            return "the query would write (\(detail)), and choreo sql only reads: change jobs with submit, cancel or resume"
        case .timedOut(let seconds):
            return "the query was stopped after running \(seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds))s (choreo sql's time limit); "
                + "give it more with --timeout, e.g. --timeout 5m"
        }
    }
}
