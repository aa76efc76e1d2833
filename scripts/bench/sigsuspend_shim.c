/* Lets valgrind 3.19 (Debian 12) run Swift programs: libdispatch's main thread waits in
 * sigsuspend() with a mask in read-only memory, and valgrind's rt_sigsuspend wrapper writes to
 * that mask ("VALGRIND INTERNAL ERROR: Valgrind received a signal 11"). This copy of sigsuspend
 * passes a writable copy. Used by callgrind.sh through LD_PRELOAD; not part of choreo. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
