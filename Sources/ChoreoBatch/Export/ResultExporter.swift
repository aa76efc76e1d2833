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

/// Writes a batch's results row by row: the store streams the rows (`BatchStore.exportRecords`),
/// and no more than one row is held at a time, so exporting a million jobs needs no more memory
/// than exporting ten, on either backend.
public struct ResultExporter {
    public let store: any BatchStore

    public init(store: any BatchStore) { self.store = store }
    /// The exporter of a SQLite database.
    public init(database: Database) { self.init(store: SQLiteBatchStore(database)) }

    public static let jobStates = ["pending", "running", "succeeded", "failed", "cancelled"]

    /// Writes the jobs of `batchID` (only those in `states`, when given) in input order.
    /// Returns the number of jobs written. Does not flush `output`.
    @discardableResult
    public func export(batch batchID: String, format: ExportFormat, states: [String] = [], to output: BufferedWriter) throws -> Int {
        for state in states where !Self.jobStates.contains(state) { throw ExportError.unknownState(state) }
        if let header = Self.header(for: format) { try output.write(header) }
        var line = ""
        line.reserveCapacity(4096)
        return try store.exportRecords(batch: batchID, states: states, includingResponse: format == .openai) { record in
            line.removeAll(keepingCapacity: true)
            switch format {
            case .openai: OpenAIBatchLine.write(record, to: &line)
            case .jsonl: JSONLLine.write(record, to: &line)
            case .csv: CSVLine.write(record, to: &line)
            case .text: TextBlock.write(record, to: &line)
            }
            try output.write(line)
        }
    }

    static func header(for format: ExportFormat) -> String? {
        format == .csv ? CSVLine.header : nil
    }
}
