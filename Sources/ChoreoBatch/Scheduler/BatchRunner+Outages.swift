import ChoreoAI

extension BatchRunner {
    /// The jobs left pending for each provider the run gave up waiting for (in scope, by model).
    func stranded(by outages: [ProviderOutage], _ queue: any JobStore) async throws -> [UnreachableProvider] {
        guard !outages.isEmpty else { return [] }
        var left: [String: Int] = [:]
        for (model, count) in try await queue.pendingModels(batch: options.batch) {
            if let provider = try? client.provider(for: model) { left[provider.name, default: 0] += count }
        }
        return outages.compactMap { o in
            guard let jobs = left[o.provider], jobs > 0 else { return nil }
            return UnreachableProvider(outage: o, jobsLeft: jobs)
        }
    }
}
