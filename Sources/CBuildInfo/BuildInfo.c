#include "CBuildInfo.h"

#ifndef CHOREO_COMMIT
#define CHOREO_COMMIT ""
#endif

const char *choreo_build_commit(void) { return CHOREO_COMMIT; }
