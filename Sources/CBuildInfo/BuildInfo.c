#include "CBuildInfo.h"

// scripts/install.sh writes commit.h (`#define CHOREO_COMMIT "…"`) for its build and removes it
// afterwards, touching this file each time: only it is recompiled when the commit changes, and a
// later plain build does not claim a commit it was not built from.
#if __has_include("commit.h")
#include "commit.h"
#endif
#ifndef CHOREO_COMMIT
#define CHOREO_COMMIT ""
#endif

const char *choreo_build_commit(void) { return CHOREO_COMMIT; }
