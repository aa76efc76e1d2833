public import ChoreoSQLite
/// The formats `choreo results` writes.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// OpenAI Batch API output lines (wire-formats §5.2): `{id, custom_id, response, error}`.
    case openai
    /// One JSON object per job with Choreo's columns.
    case jsonl
    /// RFC 4180 CSV with a header row.
    case csv
    /// custom_id, then the output, for reading.
    case text
}

/// Writes a batch's results row by row: the query streams, and no more than one row is held at
/// a time, so exporting a million jobs needs no more memory than exporting ten.
public struct ResultExporter {
    public let database: Database

    public init(database: Database) { self.database = database }

    public static let jobStates = ["pending", "running", "succeeded", "failed", "cancelled"]

    /// Writes the jobs of `batchID` (only those in `states`, when given) in input order.
    /// Returns the number of jobs written. Does not flush `output`.
    @discardableResult
    public func export(batch batchID: String, format: ExportFormat, states: [String] = [], to output: BufferedWriter) throws -> Int {
        for state in states where !Self.jobStates.contains(state) { throw ExportError.unknownState(state) }
        // A batch's jobs were inserted in file order in one transaction, so they hold one
        // contiguous rowid range: walking that range streams rows in input order with no sort
        // (`+batch_id` keeps the planner off the batch_id index, which would need a temp B-tree).
        guard let (first, last) = try database.queryOne("SELECT min(id), max(id) FROM jobs WHERE batch_id = ?", [.text(batchID)], {
            ($0.int64(0), $0.int64(1))
        }), let first, let last else {
            if let header = Self.header(for: format) { try output.write(header) }
            return 0
        }
        var sql = "SELECT \(ExportRecord.columns(includingResponse: format == .openai)) FROM jobs WHERE id BETWEEN ? AND ? AND +batch_id = ?"
        var arguments: [SQLValue] = [.integer(first), .integer(last), .text(batchID)]
        if !states.isEmpty {
            sql += " AND state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
            arguments += states.map { .text($0) }
        }
        sql += " ORDER BY id"

        if let header = Self.header(for: format) { try output.write(header) }
        var count = 0
        var line = ""
        line.reserveCapacity(4096)
        try database.query(sql, arguments) { row in
            let record = ExportRecord(row: row)
            line.removeAll(keepingCapacity: true)
            switch format {
            case .openai: OpenAIBatchLine.write(record, to: &line)
            case .jsonl: JSONLLine.write(record, to: &line)
            case .csv: CSVLine.write(record, to: &line)
            case .text: TextBlock.write(record, to: &line)
            }
            try output.write(line)
            count += 1
        }
        return count
    }

    static func header(for format: ExportFormat) -> String? {
        format == .csv ? CSVLine.header : nil
    }
}
