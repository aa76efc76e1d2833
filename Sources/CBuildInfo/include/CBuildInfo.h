#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// The commit the binary was built from, or "" when the build did not say (a plain
/// `swift build`). scripts/install.sh passes it as -Xcc -DCHOREO_COMMIT="…": a C string macro
/// is the one value SwiftPM can hand to a build from the command line.
const char *choreo_build_commit(void);

#endif
