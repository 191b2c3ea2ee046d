/*
 * libevent_echo.c - TCP echo server on libevent 2.1, written the way the
 * libevent book and sample/ do it for speed. One of the peers rfarm's
 * tools/echo-server is measured against (bench/run, scenario echo).
 *
 * Why it is written this way:
 *  - evconnlistener (LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, backlog -1 =
 *    the kernel's maximum) accepts; every connection is a plain `struct
 *    event` on the fd, not a bufferevent: bufferevents copy every byte into
 *    an evbuffer and back out, which the libevent book itself calls the cost
 *    of convenience. A speed-minded echo reads into one static 64 KiB buffer
 *    and writes straight back from it, as the other peers do;
 *  - EV_READ | EV_PERSIST (level-triggered, libevent's default on epoll); an
 *    unsent remainder is copied to the connection and EV_WRITE replaces
 *    EV_READ until it is gone, so a peer that does not read cannot make us
 *    buffer without bound;
 *  - read()/write(), TCP_NODELAY on every accepted socket; on EOF pending
 *    bytes are flushed, then the socket is closed;
 *  - SIGINT/SIGTERM through evsignal: the loop breaks and the process exits 0.
 *
 * Command line (shared with rfarm's tools/echo-server and the other peers):
 *   libevent_echo --listen tcp:HOST:PORT
 * PORT 0 picks a free port; the first stdout line is the bound address in the
 * same form ("tcp:127.0.0.1:40123"), flushed at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <unistd.h>

#include "listen_spec.h"

struct conn {
    struct event *ev;
    evutil_socket_t fd;
    char *pend; /* unsent bytes, only after a short write */
    size_t off, len;
};

static struct event_base *base;
static char rbuf[64 * 1024];

static void conn_free(struct conn *c)
{
    event_free(c->ev);
    close(c->fd);
    free(c->pend);
    free(c);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg);

/* Switches the connection's one event between reading and writing. */
static void conn_watch(struct conn *c, short what)
{
    event_del(c->ev);
    event_assign(c->ev, base, c->fd, what | EV_PERSIST, conn_cb, c);
    event_add(c->ev, NULL);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (what & EV_WRITE) {
        ssize_t w = write(fd, c->pend + c->off, c->len - c->off);
        if (w < 0 && errno != EAGAIN) {
            conn_free(c);
            return;
        }
        if (w > 0)
            c->off += (size_t)w;
        if (c->off == c->len)
            conn_watch(c, EV_READ);
        return;
    }
    ssize_t n = read(fd, rbuf, sizeof rbuf);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        conn_free(c); /* EOF with nothing pending (pending bytes switch us to EV_WRITE), or an error */
        return;
    }
    ssize_t w = write(fd, rbuf, (size_t)n);
    if (w == n)
        return;
    if (w < 0 && errno != EAGAIN) {
        conn_free(c);
        return;
    }
    if (w < 0)
        w = 0;
    size_t rest = (size_t)(n - w);
    char *p = realloc(c->pend, rest);
    if (!p) {
        conn_free(c);
        return;
    }
    memcpy(p, rbuf + w, rest);
    c->pend = p;
    c->off = 0;
    c->len = rest;
    conn_watch(c, EV_WRITE);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    (void)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->ev = event_new(base, fd, EV_READ | EV_PERSIST, conn_cb, c);
    if (!c->ev) {
        close(fd);
        free(c);
        return;
    }
    event_add(c->ev, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            spec = argv[++i];
        else
            spec = NULL, i = argc;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!spec || parse_listen(spec, &ss, &sl) != 0) {
        fprintf(stderr, "usage: libevent_echo --listen tcp:HOST:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        fprintf(stderr, "libevent_echo: event_base_new failed\n");
        return 1;
    }
    /* Signal handlers go in before the address is printed. */
    struct event *sigint = evsignal_new(base, SIGINT, signal_cb, NULL);
    struct event *sigterm = evsignal_new(base, SIGTERM, signal_cb, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    struct evconnlistener *l = evconnlistener_new_bind(base, accept_cb, NULL,
                                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, -1,
                                                       (struct sockaddr *)&ss, (int)sl);
    if (!l) {
        fprintf(stderr, "libevent_echo: listen on %s: %s\n", spec, strerror(errno));
        return 1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen);
    print_bound_address(&bound);
    event_base_dispatch(base);
    evconnlistener_free(l);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    return 0;
}
