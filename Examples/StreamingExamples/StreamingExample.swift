public import ChoreoAI
import Foundation

/// One pattern of the streaming guide, runnable by name (`swift run streaming-examples NAME`).
public struct StreamingExample: Sendable {
    /// How `streaming-examples --mock` provokes the failure an example is about.
    public enum MockFault: Sendable {
        /// Every request gets this `x-mock-fault` header (`drop:8`, `429`).
        case header(String)
        /// The first attempts of each request fail (5xx, dropped streams); a retry gets through.
        case transient
    }

    public var name: String
    /// The guide's section(s) it answers.
    public var guideSection: String
    public var mockFault: MockFault?
    /// Reads standard input (skipped when all examples run from a terminal).
    public var isInteractive: Bool
    public var run: @Sendable (ChoreoClient, ExampleOutput) async throws -> Void

    public init(_ name: String, _ guideSection: String, mockFault: MockFault? = nil, isInteractive: Bool = false,
                run: @escaping @Sendable (ChoreoClient, ExampleOutput) async throws -> Void) {
        self.name = name
        self.guideSection = guideSection
        self.mockFault = mockFault
        self.isInteractive = isInteractive
        self.run = run
    }

    /// Every example, in the guide's order.
    public static let all: [StreamingExample] = [
        StreamingExample("BasicStreaming", "Basic Streaming") { _ = try await BasicStreaming.run(client: $0, output: $1) },
        StreamingExample("AsyncStreaming", "Simple Example; Basic Async Streaming") {
            _ = try await AsyncStreaming.run(client: $0, output: $1)
        },
        StreamingExample("AccumulateFullResponse", "Accumulate Full Response") {
            _ = try await AccumulateFullResponse.run(client: $0, output: $1)
        },
        StreamingExample("CheckFinishReason", "Check Finish Reason; Monitor Finish Reason") {
            _ = try await CheckFinishReason.run(client: $0, output: $1)
        },
        StreamingExample("ConcurrentStreaming", "Concurrent Streaming; Use Async for Concurrency") {
            _ = try await ConcurrentStreaming.run(client: $0, output: $1)
        },
        StreamingExample("StreamingChatLoop", "Streaming Chat Loop", isInteractive: true) {
            _ = try await StreamingChatLoop.run(client: $0, output: $1) { Swift.readLine() }
        },
        StreamingExample("ProgressIndicator", "Streaming with Progress Indicator; Provide User Feedback") {
            _ = try await ProgressIndicator.run(client: $0, output: $1)
        },
        StreamingExample("BufferedOutput", "Streaming with Buffering; Buffer for UI Performance") {
            _ = try await BufferedOutput.run(client: $0, output: $1)
        },
        StreamingExample("MultipleProviders", "Stream from Multiple Providers") {
            _ = try await MultipleProviders.run(client: $0, output: $1)
        },
        StreamingExample("ErrorHandling", "Basic Error Handling", mockFault: .header("429")) {
            _ = await ErrorHandling.run(client: $0, output: $1)
        },
        StreamingExample("RetryOnStreamFailure", "Retry on Stream Failure", mockFault: .transient) {
            _ = try await RetryOnStreamFailure.run(client: $0, output: $1)
        },
        StreamingExample("PartialResponseRecovery", "Partial Response Recovery", mockFault: .header("drop:8")) {
            _ = try await PartialResponseRecovery.run(client: $0, output: $1)
        },
        StreamingExample("ToolCallStreaming", "Streaming with Function Calling") {
            _ = try await ToolCallStreaming.run(client: $0, output: $1)
        },
        StreamingExample("StreamToFile", "Streaming to File") {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("choreo-output.txt").path
            _ = try await StreamToFile.run(client: $0, output: $1, path: path)
        },
        StreamingExample("RealTimeTranslation", "Real-time Translation") {
            _ = try await RealTimeTranslation.run(client: $0, output: $1)
        },
        StreamingExample("EarlyClose", "Close Streams Properly") { _ = try await EarlyClose.run(client: $0, output: $1) },
        StreamingExample("RoleAndEmptyChunks", "Always Check for Content; Handle Empty Chunks") {
            _ = try await RoleAndEmptyChunks.run(client: $0, output: $1)
        },
    ]
}
