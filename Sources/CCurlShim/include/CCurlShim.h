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
CURLcode choreo_easy_setopt_prereq_callback(CURL *handle, int (*cb)(void *, char *, char *, int, int));

CURLcode choreo_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode choreo_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);
CURLcode choreo_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);

CURLMcode choreo_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
CURLMcode choreo_multi_setopt_pointer(CURLM *handle, CURLMoption option, void *value);
CURLMcode choreo_multi_setopt_socket_callback(CURLM *handle, int (*cb)(CURL *, curl_socket_t, int, void *, void *));
CURLMcode choreo_multi_setopt_timer_callback(CURLM *handle, int (*cb)(CURLM *, long, void *));

#endif
