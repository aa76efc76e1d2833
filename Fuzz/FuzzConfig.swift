/// The configuration file parser: any bytes give providers or a `ConfigurationError` that names
/// the file, never a crash.
enum FuzzConfig {
    static func run(_ input: UnsafeRawBufferPointer) {
        do {
            _ = try ProviderConfiguration.providers(parsing: Array(input), file: "fuzz.json",
                                                    environment: ["FUZZ_KEY": "k", "OPENAI_API_KEY": "k"])
        } catch let error as ConfigurationError {
            if !error.description.contains("fuzz.json") { fuzzFinding("error does not name the file: \(error)") }
        } catch {
            fuzzFinding("unexpected error type: \(error)")
        }
    }
}
