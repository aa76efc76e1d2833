import ArgumentParser
import ChoreoAI
import ChoreoBatch
import Foundation

@main
struct Choreo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "choreo",
        abstract: "Run large batches of LLM chat completions, concurrently and streamed, without losing a token.",
        discussion: """
            A batch lives in a SQLite database (default: $CHOREO_DB, else ./choreo.sqlite):
              choreo submit jobs.jsonl        validate a JSONL job file into the database
              choreo run                      stream every pending job, saving as it comes
              choreo status / results / show  ask the database what happened
            Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY) and are never stored.
            """,
        version: Version.description,
        subcommands: [
            SubmitCommand.self, RunCommand.self, ResumeCommand.self, StatusCommand.self, ResultsCommand.self,
            ShowCommand.self, SQLCommand.self, CancelCommand.self, IndexCommand.self, AskCommand.self, ChatCommand.self, MockCommand.self,
            ReportCommand.self, EstimateCommand.self, CacheCommand.self,
        ]
    )

    /// Parses, runs, and maps every error to our exit codes in one place: usage errors exit 2 (not
    /// ArgumentParser's 64), errors from the layers below print one line and exit 1.
    static func main() async {
        CoreDumps.disable()
        // A file-size limit (`ulimit -f`) reached must fail the write (EFBIG, which SQLite
        // reports) rather than kill the process: the runner then stops as on a full disk.
        signal(SIGXFSZ, SIG_IGN)
        MallocTuning.apply()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch let error as CleanExit {
            Choreo.exit(withError: error)
        } catch let error as CLIError {
            Self.fail(error.description, code: ExitCodes.failure)
        } catch let error as UsageError {
            Self.fail(error.description, code: ExitCodes.usage)
        } catch let error as ConfigurationError {
            Self.fail(error.description, code: ExitCodes.usage)
        } catch let error as RunError {
            Self.fail(error.description, code: ExitCodes.usage)
        } catch where Self.isBrokenPipe(error) {
            // The reader went away (`choreo ask … | head`): stop quietly, as `cat` would.
            Foundation.exit(141)
        } catch {
            let code = Choreo.exitCode(for: error)
            if code == .validationFailure {
                StandardError.print(Choreo.fullMessage(for: error))
                Foundation.exit(ExitCodes.usage)
            }
            if code != .failure {
                Choreo.exit(withError: error)
            }
            Self.fail("\(error)", code: ExitCodes.failure)
        }
    }

    static func isBrokenPipe(_ error: any Error) -> Bool {
        let e = error as NSError
        let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError
        return (e.domain == NSPOSIXErrorDomain && e.code == Int(EPIPE)) || (underlying?.domain == NSPOSIXErrorDomain && underlying?.code == Int(EPIPE))
    }

    static func fail(_ message: String, code: Int32) -> Never {
        StandardError.print("choreo: \(message)")
        Foundation.exit(code)
    }
}
