/// The job-line scan (`JobLineValidator.validatedByScan`) against the full validator as the
/// oracle: a line the scan accepts is one the full validator accepts, with the same job stored
/// byte for byte (custom id, model, request text, metadata, priority, timeout), with and without
/// `--allow-unknown-params`.
enum FuzzJobLineFast {
    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        for validator in [JobLineValidator(), JobLineValidator(allowUnknownParams: true)] {
            guard let scanned = validator.validatedByScan(line: 1, bytes: bytes) else { continue }
            switch validator.validateFully(line: 1, bytes: bytes) {
            case .failure(let error):
                fuzzFinding("the scan accepts a line the full validator refuses: \(error)")
            case .success(let full):
                if scanned.customID != full.customID { fuzzFinding("custom_id \(scanned.customID) is \(full.customID) in full") }
                if scanned.model != full.model { fuzzFinding("model \(scanned.model) is \(full.model) in full") }
                if scanned.endpoint != full.endpoint { fuzzFinding("endpoint \(scanned.endpoint) is \(full.endpoint) in full") }
                if scanned.requestText != full.requestText { fuzzFinding("request \(scanned.requestText) is \(full.requestText) in full") }
                if scanned.metadata != full.metadata { fuzzFinding("metadata \(scanned.metadata ?? "nil") is \(full.metadata ?? "nil") in full") }
                if scanned.priority != full.priority || scanned.timeout != full.timeout { fuzzFinding("priority or timeout differ") }
            }
        }
    }
}
