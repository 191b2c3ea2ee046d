/*
 * libuv_echo.c - TCP echo server on libuv, written the way a libuv user who
 * cares about speed writes it. One of the peers rfarm's tools/echo-server is
 * measured against (bench/run_echo_bench.py); it stands for "a mature,
 * widely used C event loop", so it must be idiomatic and fast, not naive:
 *
 *  - alloc_cb hands out one static 64 KiB buffer. libuv calls read_cb before
 *    the next alloc_cb, and we never keep a pointer into it past read_cb, so
 *    one buffer serves every connection (no malloc per read);
 *  - read_cb echoes with uv_try_write() first: on the common path the bytes
 *    go out in the same turn with no request allocated and no copy. Only an
 *    unsent remainder is copied into a uv_write_t + buffer (one malloc) and
 *    queued with uv_write(); while it is queued we uv_read_stop(), so a peer
 *    that does not read cannot make us buffer without bound, and we resume
 *    reading in the write callback;
 *  - TCP_NODELAY on every accepted socket, listen backlog as large as the
 *    kernel allows;
 *  - on EOF (peer half-closed) anything queued is still written, then the
 *    handle is closed; SIGINT/SIGTERM stop the loop and the process exits 0.
 *
 * libuv 1.44 (Debian 12) drives sockets with epoll; the loop itself is the
 * code under comparison, so nothing here bypasses it.
 *
 * Command line (shared with rfarm's tools/echo-server and the other peers):
 *   libuv_echo --listen tcp:HOST:PORT
 * PORT 0 picks a free port; the first stdout line is the bound address in the
 * same form ("tcp:127.0.0.1:40123"), flushed at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "listen_spec.h"

struct conn {
    uv_tcp_t tcp;     /* first member: handle <-> conn casts */
    int write_queued; /* uv_write requests in flight */
    int eof;          /* peer half-closed: close once writes finish */
};

struct wreq {
    uv_write_t req;
    uv_buf_t buf;
    char data[]; /* remainder copied here */
};

static uv_loop_t *loop;
static char rbuf[64 * 1024];

static void die(const char *what, int err)
{
    fprintf(stderr, "libuv_echo: %s: %s\n", what, uv_strerror(err));
    exit(1);
}

static void on_close(uv_handle_t *h)
{
    free(h); /* h is the first member of struct conn */
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void write_cb(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = (struct conn *)req->handle;
    free(w);
    c->write_queued--;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->write_queued == 0) {
        if (c->eof)
            conn_close(c);
        else if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    if (nread > 0) {
        uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
        int w = c->write_queued ? UV_EAGAIN : uv_try_write(s, &out, 1);
        if (w == nread)
            return;
        if (w < 0 && w != UV_EAGAIN) {
            conn_close(c);
            return;
        }
        if (w < 0)
            w = 0;
        size_t rest = (size_t)nread - (size_t)w;
        struct wreq *r = malloc(sizeof *r + rest);
        if (!r) {
            conn_close(c);
            return;
        }
        memcpy(r->data, buf->base + w, rest);
        r->buf = uv_buf_init(r->data, (unsigned)rest);
        int err = uv_write(&r->req, s, &r->buf, 1, write_cb);
        if (err < 0) {
            free(r);
            conn_close(c);
            return;
        }
        c->write_queued++;
        uv_read_stop(s); /* backpressure: resume in write_cb */
        return;
    }
    if (nread == 0) /* EAGAIN */
        return;
    if (nread == UV_EOF && c->write_queued) {
        c->eof = 1; /* flush first, close in write_cb */
        uv_read_stop(s);
        return;
    }
    conn_close(c); /* EOF with nothing pending, or an error */
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv_echo: accept: %s\n", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc", UV_ENOMEM);
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_stop(loop);
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_spec = argv[++i];
        else {
            fprintf(stderr, "usage: libuv_echo --listen tcp:HOST:PORT\n");
            return 2;
        }
    }
    if (!listen_spec) {
        fprintf(stderr, "usage: libuv_echo --listen tcp:HOST:PORT\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(listen_spec, &ss, &sl) != 0) {
        fprintf(stderr, "libuv_echo: bad --listen '%s' (want tcp:HOST:PORT)\n", listen_spec);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    /* Signal handlers go in before the address is printed: whoever reads
     * the address may send SIGTERM right away. */
    static uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    static uv_tcp_t server;
    uv_tcp_init(loop, &server);
    int err = uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0);
    if (err)
        die("bind", err);
    err = uv_listen((uv_stream_t *)&server, 65535, on_connection); /* clamped to somaxconn */
    if (err)
        die("listen", err);

    struct sockaddr_storage bound;
    int blen = sizeof bound;
    err = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    if (err)
        die("getsockname", err);
    print_bound_address(&bound);

    uv_run(loop, UV_RUN_DEFAULT);
    return 0; /* stopped by a signal; open connections die with the process */
}
