/// Column-aligned plain text tables (`choreo sql`, `choreo show`).
public enum TextTable {
    /// Renders `rows` (the first is the header) padded to each column's widest cell.
    public static func render(_ rows: [[String]], indent: String = "") -> String {
        let widths = columnWidths(rows)
        var out = ""
        for (i, row) in rows.enumerated() {
            out += indent + line(row, widths)
            if i == 0 { out += indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }

    static func columnWidths(_ rows: [[String]]) -> [Int] {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.enumerated() {
                if i >= widths.count { widths.append(0) }
                widths[i] = max(widths[i], min(cell.count, 60))
            }
        }
        return widths
    }

    static func line(_ row: [String], _ widths: [Int]) -> String {
        var parts: [String] = []
        for (i, cell) in row.enumerated() {
            let width = i < widths.count ? widths[i] : 0
            let text = cell.count > 60 ? String(cell.prefix(59)) + "…" : cell
            parts.append(i == row.count - 1 ? text : text + String(repeating: " ", count: max(0, width - text.count)))
        }
        return parts.joined(separator: "  ") + "\n"
    }
}
