import CChoreoSystem

/// A runner holds the API keys from the environment in memory, so a core file of a crashed
/// `choreo` would hold them too, readable by whoever can read the working directory (or the
/// system's crash collector). Every `choreo` process turns core dumps off as it starts:
/// RLIMIT_CORE 0 and, on Linux, not dumpable (which also keeps other users' debuggers out).
/// RELIABILITY.md, "Hostile input".
enum CoreDumps {
    static func disable() { _ = choreo_disable_core_dumps() }
}
