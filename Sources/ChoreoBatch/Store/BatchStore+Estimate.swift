/// `choreo estimate BATCH` on either backend (`BatchStore.read`).
extension BatchStore {
    /// The jobs the batch `reference` names has left (pending or running), each as its model,
    /// request body and endpoint.
    public func jobsLeft(batch reference: String) throws -> [CostEstimate.Job] {
        let id = try batchID(matching: reference)
        var out: [CostEstimate.Job] = []
        try read(CostEstimate.jobsLeftQuery, [id]) { out.append(CostEstimate.job(row: $0)) }
        return out
    }

    /// Per model, what its finished single-attempt jobs reported, which the estimate calibrates
    /// its token counts with.
    public func estimateCalibration() throws -> [String: CostEstimate.Calibration] {
        var out: [String: CostEstimate.Calibration] = [:]
        try read(CostEstimate.calibrationQuery(requestBytes: dialect.compactJSONBytes("r.request")), []) {
            CostEstimate.calibration(row: $0, into: &out)
        }
        return out
    }
}
