/*
 * raw_epoll_echo.c - hand-written single-threaded epoll TCP echo server.
 *
 * This is the "what a competent C programmer writes" baseline that rfarm's
 * tools/echo-server is measured against (bench/run_echo_bench.py). It is
 * meant to be a strong, fair peer, not a strawman, so it does the things a
 * fast server does and nothing more:
 *
 *  - one thread, one epoll instance, non-blocking sockets, no allocation on
 *    the hot path: per-connection state lives in a table indexed by fd and a
 *    connection only gets a heap buffer when the kernel refused part of a
 *    write (that buffer is kept for the life of the connection);
 *  - edge-triggered epoll, with "a short read means the socket is drained"
 *    instead of the textbook read-until-EAGAIN, so each message costs one
 *    read() and one write(), the same syscalls as level-triggered. ET is the
 *    default because it was measurably cheaper: a level-triggered item that
 *    fired is put back on the ready list and re-polled by the next
 *    epoll_wait() even when it has nothing more, which at 1000 busy
 *    connections cost ~13-25% more server CPU per message in our runs
 *    (bench/run_echo_bench.py --servers raw-epoll,raw-epoll-lt). The one ET
 *    trap, a FIN queued behind the data (no new edge after a short read), is
 *    covered with EPOLLRDHUP: when it is reported we read until EOF/EAGAIN.
 *    `--level` switches to level-triggered for comparison;
 *  - `--recv-send` uses recv()/send(MSG_NOSIGNAL) instead of read()/write().
 *    These are the calls rfarm makes; they skip the VFS layer (fsnotify, the
 *    file-position checks) and measured 2-4% fewer kernel cycles per message.
 *    The peer keeps read()/write() by default because that is what the
 *    textbook server does; the variant is the "same syscalls, no library"
 *    floor that rfarm's per-message overhead is read against;
 *  - one 64 KiB read buffer shared by the whole loop; data is written back
 *    straight from it (write right after read, no copying); only the unsent
 *    remainder is copied into the connection's pending buffer, and only then
 *    is EPOLLOUT turned on (and EPOLLIN off, so a peer that does not read
 *    cannot make us buffer without bound);
 *  - accept4(SOCK_NONBLOCK) in a loop until EAGAIN, TCP_NODELAY on every
 *    accepted socket, listen backlog as large as the kernel allows, and a
 *    reserve fd so EMFILE does not turn the level-triggered listener into a
 *    busy loop;
 *  - SIGINT/SIGTERM arrive through a signalfd in the same epoll set, so
 *    there is no race between checking a flag and blocking.
 *
 * Command line (shared with rfarm's tools/echo-server and the other peers):
 *   raw_epoll_echo --listen tcp:HOST:PORT|unix:PATH [--spin-us N] [--level] [--recv-send]
 * PORT 0 picks a free port. The first stdout line is the bound address in the
 * same form ("tcp:127.0.0.1:40123"), flushed at once. Every byte is echoed;
 * on half-close (read returns 0) pending data is flushed, then the socket is
 * closed. Exits 0 on SIGINT/SIGTERM.
 * --spin-us N: after the last event, poll epoll_wait(timeout 0) for up to N
 * microseconds before blocking (the busy-poll latency mode comparison point).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "listen_spec.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_EVENTS 512

struct conn {
    char *pend;       /* unsent bytes (only after a short write) */
    uint32_t off;     /* first unsent byte in pend */
    uint32_t len;     /* end of unsent bytes in pend */
    uint32_t cap;
    uint8_t open;
};

static struct conn *conns;
static int nconns;
static int epfd;
static uint32_t et_flag = EPOLLET; /* 0 with --level */
static int use_recv_send;          /* 1 with --recv-send */
static char rbuf[READ_BUF_SIZE];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void print_addr(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        die("getsockname");
    print_bound_address(&ss);
}

static void conn_close(int fd)
{
    struct conn *c = &conns[fd];
    free(c->pend);
    memset(c, 0, sizeof *c);
    close(fd); /* also removes fd from the epoll set */
}

static void set_events(int fd, uint32_t ev)
{
    struct epoll_event e = {.events = ev | et_flag, .data.fd = fd};
    if (et_flag && (ev & EPOLLIN))
        e.events |= EPOLLRDHUP;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e) < 0)
        die("epoll_ctl(MOD)");
}

/* Keep bytes [p, p+n) that the kernel did not take. */
static void stash(struct conn *c, const char *p, size_t n)
{
    size_t have = c->len - c->off;
    if (c->off && have)
        memmove(c->pend, c->pend + c->off, have);
    c->off = 0;
    c->len = (uint32_t)have;
    if (have + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < have + n)
            cap *= 2;
        char *np = realloc(c->pend, cap);
        if (!np)
            die("realloc");
        c->pend = np;
        c->cap = (uint32_t)cap;
    }
    memcpy(c->pend + c->len, p, n);
    c->len += (uint32_t)n;
}

/* drain: keep reading until EAGAIN/EOF even after a short read. Needed in
 * ET mode once EPOLLRDHUP was reported: a FIN queued behind the data does
 * not raise a new edge, so "short read = drained" would miss the EOF. */
static ssize_t read_some(int fd, void *buf, size_t n)
{
    return use_recv_send ? recv(fd, buf, n, 0) : read(fd, buf, n);
}

static ssize_t write_some(int fd, const void *buf, size_t n)
{
    return use_recv_send ? send(fd, buf, n, MSG_NOSIGNAL) : write(fd, buf, n);
}

static void on_readable(int fd, int drain)
{
    struct conn *c = &conns[fd];
    for (;;) {
        ssize_t n = read_some(fd, rbuf, sizeof rbuf);
        if (n > 0) {
            ssize_t w = write_some(fd, rbuf, (size_t)n);
            if (w == n) {
                if ((size_t)n < sizeof rbuf && !drain)
                    return; /* short read: drained; data arriving later raises
                             * a new edge, so this is valid for ET too */
                continue;
            }
            if (w < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    conn_close(fd);
                    return;
                }
                w = 0;
            }
            /* Kernel send buffer full: keep the rest, wait for EPOLLOUT and
             * stop reading until it is flushed (bounded memory per peer). */
            stash(c, rbuf + w, (size_t)(n - w));
            set_events(fd, EPOLLOUT);
            return;
        }
        if (n == 0) { /* half-close; nothing is pending (input is paused
                       * while output is pending), so close now */
            conn_close(fd);
            return;
        }
        if (errno == EAGAIN || errno == EINTR)
            return;
        conn_close(fd);
        return;
    }
}

static void on_writable(int fd)
{
    struct conn *c = &conns[fd];
    while (c->off < c->len) {
        ssize_t w = write_some(fd, c->pend + c->off, c->len - c->off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_close(fd);
            return;
        }
        c->off += (uint32_t)w;
    }
    c->off = c->len = 0;
    /* Input was paused while output was pending, so a half-close (and any
     * data after it) is seen by the next read, never lost. */
    set_events(fd, EPOLLIN); /* MOD re-polls, so ET also sees queued input */
}

static int reserve_fd = -1;

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if ((errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
                /* Out of fds: accept and drop one so the listener does not
                 * stay readable forever under level-triggered epoll. */
                close(reserve_fd);
                fd = accept(lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fprintf(stderr, "raw_epoll_echo: out of file descriptors, dropped a connection\n");
                return;
            }
            perror("accept4");
            return;
        }
        if (fd >= nconns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix: */
        conns[fd].open = 1;
        struct epoll_event e = {.events = EPOLLIN | et_flag, .data.fd = fd};
        if (et_flag)
            e.events |= EPOLLRDHUP;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0)
            die("epoll_ctl(ADD)");
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: raw_epoll_echo --listen tcp:HOST:PORT|unix:PATH [--spin-us N] [--level] [--recv-send]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL;
    long spin_us = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_spec = argv[++i];
        else if (!strcmp(argv[i], "--spin-us") && i + 1 < argc)
            spin_us = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--level"))
            et_flag = 0;
        else if (!strcmp(argv[i], "--recv-send"))
            use_recv_send = 1;
        else
            usage();
    }
    if (!listen_spec)
        usage();

    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(listen_spec, &ss, &sl) < 0) {
        fprintf(stderr, "raw_epoll_echo: bad --listen '%s' (want tcp:HOST:PORT or unix:PATH)\n", listen_spec);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        die("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    nconns = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns)
        die("calloc");

    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&ss, sl) < 0)
        die("bind");
    if (listen(lfd, 65535) < 0) /* the kernel clamps to net.core.somaxconn */
        die("listen");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct epoll_event e = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e) < 0)
        die("epoll_ctl(listen)");
    e.data.fd = sfd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e) < 0)
        die("epoll_ctl(signalfd)");
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    print_addr(lfd);

    struct epoll_event evs[MAX_EVENTS];
    uint64_t spin_ns = spin_us > 0 ? (uint64_t)spin_us * 1000u : 0;
    uint64_t last_event = 0;
    for (;;) {
        int timeout = -1;
        if (spin_ns && now_ns() - last_event < spin_ns)
            timeout = 0;
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            continue;
        if (spin_ns)
            last_event = now_ns();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t ev = evs[i].events;
            if (fd == lfd) {
                on_accept(lfd);
            } else if (fd == sfd) {
                return 0; /* SIGINT/SIGTERM: exit without ceremony */
            } else if (conns[fd].open) {
                /* A connection is only ever closed from its own event and
                 * an fd appears once per batch, so no event here is stale. */
                if (ev & EPOLLOUT)
                    on_writable(fd);
                else if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    on_readable(fd, et_flag && (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)));
            }
        }
    }
}
