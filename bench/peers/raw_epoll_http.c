/*
 * raw_epoll_http.c - hand-written single-threaded epoll HTTP/1.1 keep-alive
 * responder: the "no library at all" floor that tools/http-hello and nginx
 * are read against in bench/run's http scenario (with wrk as the client).
 *
 * It answers every complete request in its buffer with the same response
 * tools/http-hello and the generated nginx config send ("Hello, World!",
 * Server, Date, Content-Type, Content-Length, Connection: keep-alive), in
 * order, and the responses to one read leave in one write: pipelining-safe
 * the way the TechEmpower plaintext test needs. It is a responder for a load
 * generator, not a web server: a request ends at its blank line (GET-style,
 * no body is read), a request that does not fit the 8 KiB buffer closes the
 * connection. Like the raw echo peer: edge-triggered epoll with EPOLLRDHUP,
 * accept4 until EAGAIN, TCP_NODELAY, one shared output buffer, a heap buffer
 * only for a partial request or a short write.
 *
 * Command line (the peers' shared contract, bench/README.md):
 *   raw_epoll_http --listen tcp:HOST:PORT
 * The first stdout line is the bound address; SIGINT/SIGTERM exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "listen_spec.h"

#define IN_CAP 8192
#define OUT_CAP (256 * 1024)
#define MAX_EVENTS 512

struct conn {
    char *in;        /* a partial request carried to the next read (IN_CAP bytes, on demand) */
    uint32_t in_len;
    char *pend;      /* responses the kernel did not take yet */
    uint32_t pend_off, pend_len;
    uint8_t open;
};

static struct conn *conns;
static int nconns, epfd;
static char out[OUT_CAP];
static char response[256];
static size_t response_len;
static time_t response_second;

/* The response, with its Date header redone once a second (RFC 9110 section 6.6.1: IMF-fixdate). */
static void refresh_response(void)
{
    time_t now = time(NULL);
    if (now == response_second)
        return;
    response_second = now;
    char date[64];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response_len = (size_t)snprintf(response, sizeof response,
                                    "HTTP/1.1 200 OK\r\nServer: raw-epoll\r\nDate: %s\r\n"
                                    "Content-Type: text/plain\r\nContent-Length: 13\r\n"
                                    "Connection: keep-alive\r\n\r\nHello, World!", date);
}

static void conn_close(int fd)
{
    free(conns[fd].in);
    free(conns[fd].pend);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);
}

static void watch(int fd, uint32_t ev)
{
    struct epoll_event e = {.events = ev | EPOLLET | EPOLLRDHUP, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
}

/* Answers the complete requests in [p, p+n); returns how many bytes they took. */
static size_t answer(const char *p, size_t n, size_t *out_len)
{
    size_t used = 0;
    for (;;) {
        const char *end = memmem(p + used, n - used, "\r\n\r\n", 4);
        if (!end)
            return used;
        if (*out_len + response_len > OUT_CAP)
            return used; /* the rest waits for the next read event's batch */
        memcpy(out + *out_len, response, response_len);
        *out_len += response_len;
        used = (size_t)(end + 4 - p);
    }
}

static void send_out(int fd, size_t len)
{
    struct conn *c = &conns[fd];
    ssize_t w = send(fd, out, len, MSG_NOSIGNAL);
    if (w == (ssize_t)len)
        return;
    if (w < 0 && errno != EAGAIN) {
        conn_close(fd);
        return;
    }
    if (w < 0)
        w = 0;
    c->pend = malloc(len - (size_t)w);
    if (!c->pend) {
        conn_close(fd);
        return;
    }
    memcpy(c->pend, out + w, len - (size_t)w);
    c->pend_off = 0;
    c->pend_len = (uint32_t)(len - (size_t)w);
    watch(fd, EPOLLOUT); /* input waits until the responses are out */
}

static void on_readable(int fd)
{
    struct conn *c = &conns[fd];
    refresh_response();
    for (;;) {
        char buf[IN_CAP];
        size_t have = c->in_len;
        if (have)
            memcpy(buf, c->in, have);
        ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            conn_close(fd);
            return;
        }
        if (n < 0)
            return;
        size_t total = have + (size_t)n, out_len = 0;
        size_t used = answer(buf, total, &out_len);
        size_t rest = total - used;
        if (rest == sizeof buf) { /* a request larger than the buffer */
            conn_close(fd);
            return;
        }
        if (rest) {
            if (!c->in && !(c->in = malloc(IN_CAP))) {
                conn_close(fd);
                return;
            }
            memcpy(c->in, buf + used, rest);
        }
        c->in_len = (uint32_t)rest;
        if (out_len) {
            send_out(fd, out_len);
            if (!conns[fd].open || conns[fd].pend)
                return;
        }
        if ((size_t)n < sizeof buf - have)
            return; /* short read: drained (edge-triggered) */
    }
}

static void on_writable(int fd)
{
    struct conn *c = &conns[fd];
    while (c->pend_off < c->pend_len) {
        ssize_t w = send(fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN)
                conn_close(fd);
            return;
        }
        c->pend_off += (uint32_t)w;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
    watch(fd, EPOLLIN); /* MOD re-polls: input that arrived meanwhile raises an event */
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (fd >= nconns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[fd].open = 1;
        struct epoll_event e = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0)
            conn_close(fd);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (argc != 3 || strcmp(argv[1], "--listen") != 0 || parse_listen(argv[2], &ss, &sl) != 0) {
        fprintf(stderr, "usage: raw_epoll_http --listen tcp:HOST:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    nconns = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    conns = calloc((size_t)nconns, sizeof *conns);
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!conns || sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 65535) < 0) {
        perror("raw_epoll_http: set-up");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
    e.data.fd = sfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e);

    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(lfd, (struct sockaddr *)&bound, &blen);
    print_bound_address(&bound);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                on_accept(lfd);
            else if (fd == sfd)
                return 0;
            else if (conns[fd].open && (evs[i].events & EPOLLOUT))
                on_writable(fd);
            else if (conns[fd].open)
                on_readable(fd);
        }
    }
}
