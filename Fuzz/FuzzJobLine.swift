/// The job-line validator: any line is accepted or rejected with a `JobLineError`, never a crash;
/// an accepted line stores a request that parses (with no repeated key) to a body with the
/// validated model, a model name of the documented character set.
enum FuzzJobLine {
    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        switch JobLineValidator().validate(line: 1, bytes: bytes) {
        case .failure(let error):
            if error.line != 1 { fuzzFinding("error names line \(error.line)") }
        case .success(let job):
            guard let body = try? JSONValue.parse(Array(job.requestText.utf8), rejectingDuplicateKeys: true) else {
                fuzzFinding("stored request does not parse: \(job.requestText)")
            }
            if body["model"]?.stringValue != job.model { fuzzFinding("stored model \(String(describing: body["model"])) is not \(job.model)") }
            if let problem = JobLineValidator.modelNameProblem(job.model) { fuzzFinding("accepted model: \(problem)") }
            if body["stream"] != nil || body["stream_options"] != nil { fuzzFinding("stored request keeps stream fields") }
        }
    }
}
