import ChoreoPostgres
import ChoreoSQLite

/// `choreo estimate BATCH` on either backend: the same two queries, each spelling the stored
/// request's length its own way (SQLite minifies it first, as the estimate counts a file's lines;
/// the stored request is already compact, so PostgreSQL counts its bytes as they are).
extension SQLiteBatchStore {
    public func jobsLeft(batch reference: String) throws -> [CostEstimate.Job] {
        let id = try batchID(matching: reference)
        var out: [CostEstimate.Job] = []
        try database.query(CostEstimate.jobsLeftQuery(parameter: "?"), [.text(id)]) { out.append(CostEstimate.job(row: $0)) }
        return out
    }

    public func estimateCalibration() throws -> [String: CostEstimate.Calibration] {
        var out: [String: CostEstimate.Calibration] = [:]
        try database.query(CostEstimate.calibrationQuery(requestBytes: "length(CAST(json(request) AS BLOB))")) {
            CostEstimate.calibration(row: $0, into: &out)
        }
        return out
    }
}

extension PostgresBatchStore {
    public func jobsLeft(batch reference: String) throws -> [CostEstimate.Job] {
        let id = try batchID(matching: reference)
        var out: [CostEstimate.Job] = []
        try db.query(CostEstimate.jobsLeftQuery(parameter: "$1"), [.init(id)]) { out.append(CostEstimate.job(row: $0)) }
        return out
    }

    public func estimateCalibration() throws -> [String: CostEstimate.Calibration] {
        var out: [String: CostEstimate.Calibration] = [:]
        try db.query(CostEstimate.calibrationQuery(requestBytes: "octet_length(request)")) { CostEstimate.calibration(row: $0, into: &out) }
        return out
    }
}
