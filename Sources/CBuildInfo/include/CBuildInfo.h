#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// The commit the binary was built from, or "" when the build did not say (a plain
/// `swift build`). scripts/install.sh stamps it (see BuildInfo.c): a C macro from a generated
/// header is a value SwiftPM builds in without any plugin.
const char *choreo_build_commit(void);

#endif
