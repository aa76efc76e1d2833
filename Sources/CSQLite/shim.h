#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call: one wrapper per setting Choreo uses.

// Memory statistics off: with them on (SQLite's default), every allocation SQLite makes takes a
// process-wide mutex to count it (measured at 7% of a million-line submit). Choreo never reads
// them. Must run before SQLite initializes (the first open); returns SQLITE_MISUSE after.
static inline int choreo_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
