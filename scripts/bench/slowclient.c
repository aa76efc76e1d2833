/* A plain libcurl multi client for the "many slow streams" comparison: N concurrent streaming
 * POSTs through curl's socket interface + epoll, counting SSE events, no parsing or storage.
 * This is the floor a C programmer would write by hand.
 * build: gcc -O2 -o slowclient slowclient.c -lcurl
 * usage: slowclient URL N [BODY]   prints {"streams":N,"ok":K,"events":E,"bytes":B,"connections":C}
 * env:   PARALLEL=P  at most P streams in flight, the next added as one ends (default: all N at once)
 *        RAMP=R      at most R streams sent and waiting for their first byte (default: no limit;
 *                    choreo sends at most 512 at once)
 *        CAFILE=F    trust the CAs of F (CURLOPT_CAINFO); an https URL also waits for a connection
 *                    that may multiplex (CURLOPT_PIPEWAIT), as choreo and curl --parallel do */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

static CURLM *multi;
static int epfd;
static long timeout_ms = -1;
static long long events, bytes;
static int ok, failed, added, connections, waiting, ramp;
static const char *url, *body, *cafile;

typedef struct {
    char last;                 /* the last byte across callbacks, to find "\n\n" */
    char started;              /* a byte has arrived (RAMP) */
    struct curl_slist *headers;
} stream_t;

static size_t on_write(char *p, size_t size, size_t n, void *userp) {
    stream_t *s = userp;
    size_t len = size * n;
    bytes += len;
    if (!s->started) { s->started = 1; waiting--; }
    char prev = s->last;
    for (size_t i = 0; i < len; i++) {  /* one event per blank line */
        if (p[i] == '\n' && prev == '\n') events++;
        prev = p[i];
    }
    s->last = prev;
    return len;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)e; (void)userp;
    struct epoll_event ev = {0};
    ev.data.fd = fd;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(multi, fd, NULL);
        return 0;
    }
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    if (socketp) {
        if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    } else {
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        curl_multi_assign(multi, fd, (void *)1);
    }
    return 0;
}

static int on_timer(CURLM *m, long ms, void *userp) {
    (void)m; (void)userp;
    timeout_ms = ms;
    return 0;
}

static void collect(void) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        if (msg->data.result == CURLE_OK && code == 200) ok++;
        else {
            failed++;
            if (failed <= 5) fprintf(stderr, "transfer failed: %s (HTTP %ld)\n", curl_easy_strerror(msg->data.result), code);
        }
        long opened = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &opened);
        connections += (int)opened;
        stream_t *s;
        struct curl_slist *h;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (!s->started) waiting--;
        h = s->headers;
        curl_multi_remove_handle(multi, msg->easy_handle);
        curl_easy_cleanup(msg->easy_handle);
        curl_slist_free_all(h);
        free(s);
    }
}

static void add_stream(void) {
    CURL *e = curl_easy_init();
    stream_t *s = calloc(1, sizeof(stream_t));
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Authorization: Bearer dummy");
    h = curl_slist_append(h, "Expect:");
    s->headers = h;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 60000L);
    if (cafile) curl_easy_setopt(e, CURLOPT_CAINFO, cafile);
    if (strncmp(url, "https:", 6) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_multi_add_handle(multi, e);
    added++;
    waiting++;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s URL N [BODY]\n", argv[0]); return 2; }
    url = argv[1];
    int n = atoi(argv[2]);
    body = argc > 3 ? argv[3]
        : "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
          "\"stream_options\":{\"include_usage\":true}}";
    int parallel = getenv("PARALLEL") ? atoi(getenv("PARALLEL")) : n;
    cafile = getenv("CAFILE");
    ramp = getenv("RAMP") ? atoi(getenv("RAMP")) : 0;
    curl_global_init(CURL_GLOBAL_ALL);
    multi = curl_multi_init();
    epfd = epoll_create1(0);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)parallel);
    /* as choreo does: the server's SETTINGS_MAX_CONCURRENT_STREAMS governs, not curl's default of 100 */
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
    while (added < n && added < parallel && (ramp == 0 || waiting < ramp)) add_stream();
    int running = 1;
    struct epoll_event evs[512];
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    while (running || added < n) {
        int k = epoll_wait(epfd, evs, 512, timeout_ms < 0 ? 1000 : (int)timeout_ms);
        if (k < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        if (k == 0) curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        for (int i = 0; i < k; i++) {
            int flags = 0;
            if (evs[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(multi, evs[i].data.fd, flags, &running);
        }
        collect();
        int before = added;  /* refill what ended (and what began, with RAMP), then let curl start them */
        while (added < n && added - ok - failed < parallel && (ramp == 0 || waiting < ramp)) add_stream();
        if (added > before) curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect();
    printf("{\"streams\":%d,\"ok\":%d,\"failed\":%d,\"events\":%lld,\"bytes\":%lld,\"connections\":%d}\n", n, ok, failed, events, bytes, connections);
    curl_multi_cleanup(multi);
    return failed ? 1 : 0;
}
