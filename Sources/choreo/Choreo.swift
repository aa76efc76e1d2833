import ArgumentParser

@main
struct Choreo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "choreo",
        abstract: "Run large batches of LLM chat completions, concurrently and streamed, without losing a token.",
        discussion: """
            A batch lives in a SQLite database (default: $CHOREO_DB, else ./choreo.sqlite):
              choreo submit jobs.jsonl        validate a JSONL job file into the database
              choreo run                      stream every pending job, persist as it arrives
              choreo status / results / show  ask the database what happened
            Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY) and are never stored.
            """,
        subcommands: [
            SubmitCommand.self, RunCommand.self, ResumeCommand.self, StatusCommand.self, ResultsCommand.self,
            ShowCommand.self, SQLCommand.self, CancelCommand.self, AskCommand.self, ChatCommand.self, MockCommand.self,
        ]
    )
}
