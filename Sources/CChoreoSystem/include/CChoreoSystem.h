// The OS calls Choreo makes that Swift cannot make directly (packed structs, variadic calls,
// macros from headers that do not import), kept apart from the curl shim as NIO keeps CNIOLinux
// apart. No logic beyond flattening arguments.
#ifndef CHOREO_SYSTEM_H
#define CHOREO_SYSTEM_H

// The curl loop's readiness: epoll and eventfd, flattened because `struct epoll_event` is
// packed on x86_64 and does not import cleanly into Swift.
#define CHOREO_POLL_IN 1
#define CHOREO_POLL_OUT 2
#define CHOREO_POLL_ERR 4
int choreo_epoll_create(void);
int choreo_epoll_ctl(int epfd, int op, int fd, int mask); // op: 1 add, 2 del, 3 mod; mask CHOREO_POLL_*
int choreo_epoll_wait(int epfd, int *fds, int *masks, int max, int timeout_ms);
int choreo_eventfd(void);

// glibc's M_TRIM_THRESHOLD (malloc.h does not import into Swift), unless MALLOC_TRIM_THRESHOLD_
// is set in the environment. Returns 1 when applied; 0 elsewhere (other C libraries).
int choreo_malloc_trim_threshold(int bytes);

// No core file for this process, ever: RLIMIT_CORE 0 (soft and hard) and, on Linux,
// prctl(PR_SET_DUMPABLE, 0) (prctl is variadic). A core holds the process's memory, and with it
// the API keys read from the environment. Returns 0 when both were applied.
int choreo_disable_core_dumps(void);

// Raises this process's soft limit on open files (RLIMIT_NOFILE) to `wanted`, or to the hard
// limit when that is lower; never lowers it. Returns the soft limit now (-1 on error).
long long choreo_raise_open_files_limit(long long wanted);

// posix_spawn's file action "close every descriptor from `from` up" (glibc 2.34+; spawn.h
// declares it only under _GNU_SOURCE, which Swift's import of the header does not define).
// Returns posix_spawn's error number: 0, or ENOSYS where the C library lacks it.
#include <spawn.h>
int choreo_spawn_file_actions_close_from(posix_spawn_file_actions_t *actions, int from);

// Open files kept free for everything but connections: the database and its WAL and shared
// memory on each connection, curl's and the event loops' own, standard I/O, resolver threads.
// What `run` leaves out when it sizes streams to the limit, and curl's default connection cap.
#define CHOREO_RESERVED_OPEN_FILES 64

#endif
