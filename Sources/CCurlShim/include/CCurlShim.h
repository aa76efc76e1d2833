// Non-variadic wrappers for libcurl's variadic calls, which Swift cannot call directly.
// Nothing else belongs here.
#ifndef CHOREO_CCURL_SHIM_H
#define CHOREO_CCURL_SHIM_H

#include <curl/curl.h>

CURLcode choreo_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode choreo_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode choreo_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode choreo_easy_setopt_offset(CURL *handle, CURLoption option, curl_off_t value);
CURLcode choreo_easy_setopt_write_callback(CURL *handle, size_t (*cb)(char *, size_t, size_t, void *));
CURLcode choreo_easy_setopt_header_callback(CURL *handle, size_t (*cb)(char *, size_t, size_t, void *));

CURLcode choreo_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode choreo_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);
CURLcode choreo_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode choreo_easy_getinfo_offset(CURL *handle, CURLINFO info, curl_off_t *value);

CURLMcode choreo_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
CURLMcode choreo_multi_setopt_pointer(CURLM *handle, CURLMoption option, void *value);
CURLMcode choreo_multi_setopt_socket_callback(CURLM *handle, int (*cb)(CURL *, curl_socket_t, int, void *, void *));
CURLMcode choreo_multi_setopt_timer_callback(CURLM *handle, int (*cb)(CURLM *, long, void *));


// The event loop's OS interface: epoll and eventfd, flattened because `struct epoll_event` is
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

#endif
