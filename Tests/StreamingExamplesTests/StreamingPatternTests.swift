import ChoreoAI
import ChoreoMock
import Foundation
import StreamingExamples
import Testing

/// The guide's patterns that succeed, each against the mock provider, compared with the exact
/// text the mock answers.
@Suite("Streaming guide: the patterns")
struct StreamingPatternTests {
    @Test func basicStreamingPrintsTheWholeAnswerThenANewline() async throws {
        let output = ExampleOutput.capture()
        let text = try await Mock.run { try await BasicStreaming.run(client: $0.client, output: output) }
        #expect(text == expectedReply("Write a short story").text)
        #expect(output.text == text + "\n")
    }

    @Test func asyncStreamingPrefixesTheAnswer() async throws {
        let output = ExampleOutput.capture()
        let text = try await Mock.run { try await AsyncStreaming.run(client: $0.client, output: output) }
        #expect(text == expectedReply("Tell me a joke").text)
        #expect(output.text == "Assistant: " + text + "\n")
    }

    @Test func accumulateFullResponseReportsItsLength() async throws {
        let output = ExampleOutput.capture()
        let text = try await Mock.run { try await AccumulateFullResponse.run(client: $0.client, output: output) }
        #expect(text == expectedReply("Explain Python").text)
        #expect(output.text == text + "\n\nFull response length: \(text.unicodeScalars.count)\n")
    }

    @Test func checkFinishReasonSeesStop() async throws {
        let output = ExampleOutput.capture()
        let reason = try await Mock.run { try await CheckFinishReason.run(client: $0.client, output: output) }
        #expect(reason == .stop)
        #expect(output.text == expectedReply("Write a poem").text + "\n[Finished: stop]\n[Completed]\n")
    }

    @Test func checkFinishReasonSeesLengthWhenMaxTokensCuts() async throws {
        let output = ExampleOutput.capture()
        let reason = try await Mock.run { try await CheckFinishReason.run(client: $0.client, output: output, maxTokens: 5) }
        #expect(reason == "length")
        let expected = expectedReply("Write a poem", maxTokens: 5)
        #expect(expected.finishReason == "length")
        #expect(output.text == expected.text + "\n[Finished: length]\n[Max tokens reached]\n")
    }

    @Test func concurrentStreamingRunsTheStreamsAtTheSameTime() async throws {
        let output = ExampleOutput.capture()
        let (answers, stats) = try await Mock.run(MockConfig(chunkDelay: .milliseconds(10))) { mock in
            (try await ConcurrentStreaming.run(client: mock.client, output: output), mock.server.stats())
        }
        #expect(answers == ConcurrentStreaming.questions.map { expectedReply($0).text })
        #expect(stats.streamsPeak == 3)
        for (question, answer) in zip(ConcurrentStreaming.questions, answers) {
            #expect(output.text.contains("\nQ: \(question)\nA: \(answer)\n"))
        }
    }

    @Test func chatLoopSendsTheWholeConversationEachTurn() async throws {
        var lines = ["Hello", "And then?", "QUIT", "never read"][...]
        let output = ExampleOutput.capture()
        let (messages, requests) = try await Mock.run { mock in
            (try await StreamingChatLoop.run(client: mock.client, output: output) { lines.popFirst() }, mock.server.stats().requests)
        }
        let first = expectedReply("Hello").text
        let second = expectedReply([.user("Hello"), .assistant(first), .user("And then?")]).text
        #expect(messages == [.user("Hello"), .assistant(first), .user("And then?"), .assistant(second)])
        #expect(requests == 2)
        #expect(lines == ["never read"])
        #expect(output.text.hasSuffix("You: Assistant: \(second)\n\nYou: "))
    }

    @Test func chatLoopEndsAtEndOfInput() async throws {
        let output = ExampleOutput.capture()
        let messages = try await Mock.run { try await StreamingChatLoop.run(client: $0.client, output: output) { nil } }
        #expect(messages.isEmpty)
    }

    @Test func progressIndicatorCountsTheTextChunks() async throws {
        let output = ExampleOutput.capture()
        let count = try await Mock.run { try await ProgressIndicator.run(client: $0.client, output: output, dotInterval: .zero) }
        #expect(count == expectedTokens("Explain AI").count)
        #expect(output.text == "Generating response...\n\n" + expectedReply("Explain AI").text + "\n[Received \(count) chunks]\n")
    }

    @Test(arguments: [1, 5, 7])
    func bufferedOutputFlushesEveryNChunks(bufferSize: Int) async throws {
        let output = ExampleOutput.capture()
        let flushes = try await Mock.run { try await BufferedOutput.run(client: $0.client, output: output, bufferSize: bufferSize) }
        let tokens = expectedTokens("Write a story")
        let expected = stride(from: 0, to: tokens.count, by: bufferSize).map { tokens[$0..<min($0 + bufferSize, tokens.count)].joined() }
        #expect(flushes == expected)
        #expect(output.writes == expected + ["\n"])
    }

    @Test func multipleProvidersAnswerThroughTheirOwnWireFormats() async throws {
        let output = ExampleOutput.capture()
        let answers = try await Mock.run { try await MultipleProviders.run(client: $0.client, output: output) }
        #expect(answers.map(\.model) == MultipleProviders.models)
        for (model, answer) in answers {
            #expect(answer == expectedReply("What is machine learning?", model: model).text, "\(model)")
            #expect(output.text.contains("\n\(model): \(answer)\n"))
        }
    }

    @Test func toolCallFragmentsAssembleIntoOneCompleteCall() async throws {
        let output = ExampleOutput.capture()
        let calls = try await Mock.run { try await ToolCallStreaming.run(client: $0.client, output: output) }
        try #require(calls.count == 1)
        #expect(calls[0].function.name == "get_weather")
        #expect(!calls[0].id.isEmpty)
        let arguments = try JSONValue.parse(Array(calls[0].function.arguments.utf8))
        // The mock asks for `{"query": <the first two words of its reply>}`.
        let words = expectedTokens("What's the weather in NYC?").map { $0.filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
        #expect(arguments == ["query": .string(words.prefix(2).joined(separator: " "))])
        #expect(output.text == "\n[Function call detected: get_weather]\nget_weather(\(calls[0].function.arguments))\n")
    }

    @Test func streamToFileWritesExactlyTheText() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = ExampleOutput.capture()
        let text = try await Mock.run { try await StreamToFile.run(client: $0.client, output: output, path: path) }
        #expect(text == expectedReply("Write a long article about AI").text)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
        #expect(output.text == text + "\n\nSaved to \(path)\n")
    }

    @Test func translationStreamsEachLanguage() async throws {
        let output = ExampleOutput.capture()
        let texts = try await Mock.run { try await RealTimeTranslation.run(client: $0.client, output: output) }
        let spanish = expectedReply("Translate to Spanish: Hello, how are you?").text
        let french = expectedReply("Translate to French: Hello, how are you?").text
        #expect(texts == [spanish, french])
        #expect(output.text == "Translation (Spanish): \(spanish)\nTranslation (French): \(french)\n")
    }

    @Test func breakingOutOfTheLoopClosesTheConnection() async throws {
        let output = ExampleOutput.capture()
        // Slow enough that the server is still streaming when the client leaves, even on a loaded machine.
        let (text, stats) = try await Mock.run(MockConfig(chunkDelay: .milliseconds(150))) { mock in
            let text = try await EarlyClose.run(client: mock.client, output: output, maxChunks: 3)
            return (text, try await mock.stats { $0.closedByClient == 1 && $0.streamsActive == 0 })
        }
        #expect(text == expectedTokens("Write a long story").prefix(3).joined())
        #expect(stats.closedByClient == 1)
        #expect(stats.streamsActive == 0)
        #expect(stats.completed == 0)
    }

    @Test func roleUsageAndEmptyChunksAreToldApart() async throws {
        let output = ExampleOutput.capture()
        let tally = try await Mock.run { try await RoleAndEmptyChunks.run(client: $0.client, output: output) }
        let tokens = expectedTokens("Hello")
        #expect(tally.roles == [.assistant])
        #expect(tally.text == tokens.joined())
        #expect(tally.textChunks == tokens.count)
        #expect(tally.emptyChunks == 2)  // the role chunk (content "") and the finish chunk
        #expect(tally.choicelessChunks == 1)
        #expect(tally.usage?.completionTokens == tokens.count)
        #expect(output.text.hasPrefix("[Role: assistant]\n"))
    }

    @Test func everyCatalogExampleRunsAgainstTheMock() async throws {
        let names = StreamingExample.all.map(\.name)
        #expect(Set(names).count == names.count)
        try await Mock.run { mock in
            for example in StreamingExample.all where !example.isInteractive {
                try await example.run(mock.client, .capture())
            }
        }
    }
}
