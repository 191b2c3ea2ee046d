/*
 * raw_uring_echo.c - TCP echo server written directly on liburing (2.3).
 *
 * The io_uring peer for rfarm's `--backend uring` (bench/run_echo_bench.py):
 * what a programmer who knows current io_uring writes by hand, with no
 * framework in between. It uses the features that make io_uring networking
 * cheap rather than a plain readiness-style port:
 *
 *  - one multishot accept on the listener (re-armed only if it terminates);
 *  - one multishot recv per connection with buffer selection from a provided
 *    buffer ring: no SQE per read, and no buffer is pinned to an idle
 *    connection. liburing 2.3 has io_uring_register_buf_ring() but not
 *    io_uring_setup_buf_ring(), so the ring is mmap()ed and registered here;
 *  - the echo is sent straight from the provided buffer (no copy), and the
 *    buffer goes back to the ring when that send completes; returns are
 *    batched into one tail update per loop turn;
 *  - at most one send in flight per connection: a multishot recv can deliver
 *    several chunks before the first send completes, and two sends in flight
 *    on one TCP socket may complete out of order if the first one has to wait
 *    for socket space. Later chunks wait in a small per-connection FIFO;
 *    short sends are resubmitted for the remainder;
 *  - IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (completion work
 *    runs only when we wait, in our context, batched), falling back to
 *    COOP_TASKRUN and then to no flags on kernels that refuse them; the ring
 *    fd is registered; exactly one io_uring_submit_and_wait() per loop turn;
 *  - TCP_NODELAY on accepted sockets (a plain setsockopt: direct descriptors
 *    would need io_uring setsockopt commands that liburing 2.3 lacks);
 *  - SIGINT/SIGTERM via a signalfd polled through the ring.
 *
 * Backpressure: if a peer stops reading, its queue grows; at QUEUE_PAUSE
 * chunks the connection's recv is cancelled and it is re-armed when the queue
 * has drained, so one slow peer cannot hold the whole buffer ring.
 * When the buffer ring runs dry the kernel ends a connection's multishot recv
 * with -ENOBUFS; the connection is re-armed after buffers have been returned.
 * A connection's state is indexed by fd with a generation number in every
 * user_data, so completions that arrive after a connection was closed (and
 * its fd number reused) are recognised as stale; their buffers are returned.
 *
 * Command line (shared with rfarm's tools/echo-server and the other peers):
 *   raw_uring_echo --listen tcp:HOST:PORT [--bufs N] [--buf-size B]
 * PORT 0 picks a free port; the first stdout line is the bound address in the
 * same form ("tcp:127.0.0.1:40123"), flushed at once. Every byte is echoed;
 * on half-close pending sends finish, then the socket is closed. Exits 0 on
 * SIGINT/SIGTERM. Defaults: 16384 buffers of 4 KiB (pages are touched only as
 * buffers are used).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen_spec.h"

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_SIGNAL = 4, OP_CANCEL = 5 };
#define BGID 7
/* A connection whose peer does not read would otherwise drain the whole
 * buffer ring into its send queue: past this many queued chunks its recv is
 * cancelled, and re-armed once the queue is empty again. */
#define QUEUE_PAUSE 16

struct chunk {
    uint16_t bid;
    uint32_t len;
};

struct conn {
    uint32_t gen;          /* survives close: tells stale completions apart */
    uint8_t open;
    uint8_t recv_armed;    /* multishot recv outstanding */
    uint8_t eof;           /* peer half-closed */
    uint8_t rearm_queued;  /* on the re-arm list after -ENOBUFS */
    uint8_t sending;       /* one send in flight */
    uint8_t paused;        /* recv cancelled for backpressure */
    uint16_t s_bid;        /* buffer of the send in flight */
    uint32_t s_off, s_len;
    struct chunk *q;       /* chunks waiting for the send in flight */
    uint32_t qhead, qlen, qcap;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufbase;
static unsigned nbufs = 16384, buf_size = 4096;
static int br_mask;
static int br_returns; /* buffers added since the last tail update */
static struct conn *conns;
static int nconns;
static int lfd, sfd;
static int *rearm;     /* fds whose recv ended with -ENOBUFS */
static int nrearm;

static void die(const char *what, int err)
{
    fprintf(stderr, "raw_uring_echo: %s: %s\n", what, strerror(err));
    exit(1);
}

static inline uint64_t ud(int op, uint32_t gen, int fd)
{
    return ((uint64_t)op << 56) | ((uint64_t)(gen & 0xffffff) << 32) | (uint32_t)fd;
}

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) { /* SQ full: push what we have to the kernel */
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void return_buf(uint16_t bid)
{
    io_uring_buf_ring_add(br, bufbase + (size_t)bid * buf_size, buf_size, bid, br_mask, br_returns);
    br_returns++;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, 0, lfd));
}

static void arm_recv(int fd)
{
    struct conn *c = &conns[fd];
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud(OP_RECV, c->gen, fd));
    c->recv_armed = 1;
}

static void submit_send(int fd)
{
    struct conn *c = &conns[fd];
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, fd, bufbase + (size_t)c->s_bid * buf_size + c->s_off, c->s_len - c->s_off,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(OP_SEND, c->gen, fd));
    c->sending = 1;
}

/* Re-arm recv if it is not outstanding and nothing stops it. */
static void maybe_rearm(int fd)
{
    struct conn *c = &conns[fd];
    if (!c->open || c->eof || c->recv_armed)
        return;
    if (c->paused) {
        if (c->qlen || c->sending)
            return;
        c->paused = 0;
    }
    arm_recv(fd);
}

static void pause_recv(int fd)
{
    struct conn *c = &conns[fd];
    if (c->paused || !c->recv_armed)
        return;
    c->paused = 1;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel64(sqe, ud(OP_RECV, c->gen, fd), 0);
    io_uring_sqe_set_data64(sqe, ud(OP_CANCEL, c->gen, fd));
}

static void start_send(int fd, uint16_t bid, uint32_t len)
{
    struct conn *c = &conns[fd];
    c->s_bid = bid;
    c->s_off = 0;
    c->s_len = len;
    submit_send(fd);
}

static void enqueue(struct conn *c, uint16_t bid, uint32_t len)
{
    if (c->qlen == c->qcap) {
        uint32_t ncap = c->qcap ? c->qcap * 2 : 8;
        struct chunk *nq = malloc(ncap * sizeof *nq);
        if (!nq)
            die("malloc", ENOMEM);
        for (uint32_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = (struct chunk){bid, len};
    c->qlen++;
}

static void conn_close(int fd)
{
    struct conn *c = &conns[fd];
    while (c->qlen) {
        return_buf(c->q[c->qhead].bid);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    free(c->q);
    if (c->recv_armed) /* make the outstanding multishot recv finish */
        shutdown(fd, SHUT_RDWR);
    close(fd);
    uint32_t gen = c->gen + 1;
    memset(c, 0, sizeof *c);
    c->gen = gen;
}

static void on_accept(struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept();
    if (cqe->res < 0) {
        if (cqe->res != -ECONNABORTED && cqe->res != -EINTR)
            fprintf(stderr, "raw_uring_echo: accept: %s\n", strerror(-cqe->res));
        return;
    }
    int fd = cqe->res;
    if (fd >= nconns) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = &conns[fd];
    c->open = 1;
    arm_recv(fd);
}

static void on_recv(struct io_uring_cqe *cqe, int fd, uint32_t gen)
{
    struct conn *c = &conns[fd];
    int has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    if (!c->open || (c->gen & 0xffffff) != gen) { /* stale: connection gone */
        if (has_buf)
            return_buf(bid);
        return;
    }
    int more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        c->recv_armed = 0;
    if (cqe->res > 0) {
        if (!c->sending) {
            start_send(fd, bid, (uint32_t)cqe->res);
        } else {
            enqueue(c, bid, (uint32_t)cqe->res);
            if (c->qlen >= QUEUE_PAUSE)
                pause_recv(fd);
        }
        if (!more) /* multishot ended (cancelled, or early): re-arm if allowed */
            maybe_rearm(fd);
        return;
    }
    if (has_buf)
        return_buf(bid);
    if (cqe->res == -ECANCELED) { /* our backpressure cancel */
        maybe_rearm(fd);
        return;
    }
    if (cqe->res == -ENOBUFS) { /* ring ran dry; re-arm after buffers return */
        if (!c->rearm_queued) {
            c->rearm_queued = 1;
            rearm[nrearm++] = fd;
        }
        return;
    }
    if (cqe->res == 0) { /* half-close: finish pending sends, then close */
        c->eof = 1;
        if (!c->sending)
            conn_close(fd);
        return;
    }
    /* receive error (reset...): drop what is queued; close when the send in
     * flight, if any, has completed */
    c->eof = 1;
    while (c->qlen) {
        return_buf(c->q[c->qhead].bid);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    if (!c->sending)
        conn_close(fd);
}

static void on_send(struct io_uring_cqe *cqe, int fd, uint32_t gen)
{
    struct conn *c = &conns[fd];
    if (!c->open || (c->gen & 0xffffff) != gen || !c->sending)
        return; /* cannot happen: we never close with a send in flight */
    c->sending = 0;
    if (cqe->res < 0) {
        return_buf(c->s_bid);
        conn_close(fd);
        return;
    }
    c->s_off += (uint32_t)cqe->res;
    if (c->s_off < c->s_len) { /* short send: send the rest */
        submit_send(fd);
        return;
    }
    return_buf(c->s_bid);
    if (c->qlen) {
        struct chunk ch = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
        start_send(fd, ch.bid, ch.len);
    } else if (c->eof) {
        conn_close(fd);
    } else {
        maybe_rearm(fd); /* resumes a paused recv */
    }
}

static void print_addr(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        die("getsockname", errno);
    print_bound_address(&ss);
}

static void setup_ring(void)
{
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int ret = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flag_sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = 65536;
        ret = io_uring_queue_init_params(4096, &ring, &p);
        if (ret == 0) {
            if (i > 0)
                fprintf(stderr, "raw_uring_echo: note: ring set up with fallback flags 0x%x\n", flag_sets[i]);
            break;
        }
    }
    if (ret < 0)
        die("io_uring_queue_init_params", -ret);
    io_uring_register_ring_fd(&ring); /* optional: saves an fd lookup per enter */

    size_t ring_bytes = nbufs * sizeof(struct io_uring_buf);
    br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED)
        die("mmap(buf ring)", errno);
    bufbase = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bufbase == MAP_FAILED)
        die("mmap(buffers)", errno);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = nbufs;
    reg.bgid = BGID;
    ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret < 0)
        die("io_uring_register_buf_ring", -ret);
    io_uring_buf_ring_init(br);
    br_mask = io_uring_buf_ring_mask(nbufs);
    for (unsigned i = 0; i < nbufs; i++)
        return_buf((uint16_t)i);
    io_uring_buf_ring_advance(br, br_returns);
    br_returns = 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: raw_uring_echo --listen tcp:HOST:PORT [--bufs N(power of 2)] [--buf-size B]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_spec = argv[++i];
        else if (!strcmp(argv[i], "--bufs") && i + 1 < argc)
            nbufs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--buf-size") && i + 1 < argc)
            buf_size = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            usage();
    }
    if (!listen_spec || nbufs == 0 || nbufs > 32768 || (nbufs & (nbufs - 1)) || buf_size == 0)
        usage();
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(listen_spec, &ss, &sl) < 0) {
        fprintf(stderr, "raw_uring_echo: bad --listen '%s' (want tcp:HOST:PORT)\n", listen_spec);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        die("sigprocmask", errno);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd", errno);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit", errno);
    nconns = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
    conns = calloc((size_t)nconns, sizeof *conns);
    rearm = calloc((size_t)nconns, sizeof *rearm);
    if (!conns || !rearm)
        die("calloc", ENOMEM);

    lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket", errno);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&ss, sl) < 0)
        die("bind", errno);
    if (listen(lfd, 65535) < 0) /* clamped to net.core.somaxconn */
        die("listen", errno);

    setup_ring();
    print_addr(lfd);

    arm_accept();
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_poll_add(sqe, sfd, POLLIN);
    io_uring_sqe_set_data64(sqe, ud(OP_SIGNAL, 0, sfd));

    for (;;) {
        int ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
            die("io_uring_submit_and_wait", -ret);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t u = cqe->user_data;
            int op = (int)(u >> 56);
            uint32_t gen = (uint32_t)(u >> 32) & 0xffffff;
            int fd = (int)(uint32_t)u;
            switch (op) {
            case OP_ACCEPT:
                on_accept(cqe);
                break;
            case OP_RECV:
                on_recv(cqe, fd, gen);
                break;
            case OP_SEND:
                on_send(cqe, fd, gen);
                break;
            case OP_SIGNAL:
                return 0; /* SIGINT/SIGTERM */
            default: /* OP_CANCEL: the recv's own completion says the rest */
                break;
            }
        }
        io_uring_cq_advance(&ring, seen);
        if (br_returns) { /* one tail update for all buffers freed this turn */
            io_uring_buf_ring_advance(br, br_returns);
            br_returns = 0;
        }
        for (int i = 0; i < nrearm; i++) {
            int fd = rearm[i];
            struct conn *c = &conns[fd];
            c->rearm_queued = 0;
            maybe_rearm(fd);
        }
        nrearm = 0;
    }
}
