#include "CCurlShim.h"

CURLcode choreo_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode choreo_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode choreo_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode choreo_easy_setopt_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode choreo_easy_setopt_write_callback(CURL *h, size_t (*cb)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
}
CURLcode choreo_easy_setopt_header_callback(CURL *h, size_t (*cb)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
}
CURLcode choreo_easy_setopt_prereq_callback(CURL *h, int (*cb)(void *, char *, char *, int, int)) {
    return curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, cb);
}
CURLcode choreo_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
CURLcode choreo_easy_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
CURLcode choreo_easy_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
CURLMcode choreo_multi_setopt_long(CURLM *h, CURLMoption o, long v) { return curl_multi_setopt(h, o, v); }
CURLMcode choreo_multi_setopt_pointer(CURLM *h, CURLMoption o, void *v) { return curl_multi_setopt(h, o, v); }
CURLMcode choreo_multi_setopt_socket_callback(CURLM *h, int (*cb)(CURL *, curl_socket_t, int, void *, void *)) {
    return curl_multi_setopt(h, CURLMOPT_SOCKETFUNCTION, cb);
}
CURLMcode choreo_multi_setopt_timer_callback(CURLM *h, int (*cb)(CURLM *, long, void *)) {
    return curl_multi_setopt(h, CURLMOPT_TIMERFUNCTION, cb);
}
