// posix_spawn_file_actions_addclosefrom_np is a GNU extension.
#define _GNU_SOURCE
#include "CChoreoSystem.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <errno.h>
#include <spawn.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int choreo_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int choreo_epoll_ctl(int epfd, int op, int fd, int mask) {
    struct epoll_event ev = {0};
    if (mask & CHOREO_POLL_IN) ev.events |= EPOLLIN;
    if (mask & CHOREO_POLL_OUT) ev.events |= EPOLLOUT;
    ev.data.fd = fd;
    int o = op == 1 ? EPOLL_CTL_ADD : op == 2 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    return epoll_ctl(epfd, o, fd, &ev);
}
int choreo_epoll_wait(int epfd, int *fds, int *masks, int max, int timeout_ms) {
    struct epoll_event evs[512];
    if (max > 512) max = 512;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        fds[i] = evs[i].data.fd;
        int m = 0;
        if (evs[i].events & EPOLLIN) m |= CHOREO_POLL_IN;
        if (evs[i].events & EPOLLOUT) m |= CHOREO_POLL_OUT;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) m |= CHOREO_POLL_ERR;
        masks[i] = m;
    }
    return n;
}
int choreo_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int choreo_malloc_trim_threshold(int bytes) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_TRIM_THRESHOLD_") != NULL) return 0;
    return mallopt(M_TRIM_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

long long choreo_raise_open_files_limit(long long wanted) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if (wanted > 0 && limit.rlim_cur != RLIM_INFINITY && (rlim_t)wanted > limit.rlim_cur) {
        rlim_t target = limit.rlim_max == RLIM_INFINITY || (rlim_t)wanted < limit.rlim_max ? (rlim_t)wanted : limit.rlim_max;
        struct rlimit raised = {target, limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = target;
    }
    return limit.rlim_cur == RLIM_INFINITY ? (long long)1 << 40 : (long long)limit.rlim_cur;
}

int choreo_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    int rc = setrlimit(RLIMIT_CORE, &none);
#if defined(__linux__)
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) rc = -1;
#endif
    return rc;
}

int choreo_spawn_file_actions_close_from(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}
