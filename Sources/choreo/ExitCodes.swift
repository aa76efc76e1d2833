import ArgumentParser

/// The exit codes of every command, in one place (documented in README and `--help`).
enum ExitCodes {
    /// Everything asked for was done.
    static let success: Int32 = 0
    /// Some jobs failed for good (run/resume), or the input was rejected (submit).
    static let failure: Int32 = 1
    /// Usage or configuration error.
    static let usage: Int32 = 2
    /// Work is left: a deadline passed or the run was interrupted before every job ended.
    static let workLeft: Int32 = 3
    /// The database file was deleted or replaced during the run (EX_IOERR).
    static let databaseLost: Int32 = 74
    /// The database's disk is full (or failed) past --storage-wait (EX_TEMPFAIL: free space, run again).
    static let storageFull: Int32 = 75
    /// Interrupted by SIGINT / SIGTERM.
    static let interrupted: Int32 = 130
    static let terminated: Int32 = 143
    /// The terminal went away (SIGHUP): stopped as for SIGTERM.
    static let hangUp: Int32 = 129
}
