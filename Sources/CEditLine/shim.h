// libedit (BSD editline), for `choreo chat`'s line editing and history: its readline-compatible
// calls only. readline.h uses FILE without including stdio.h itself.
#include <stdio.h>
#include <editline/readline.h>
