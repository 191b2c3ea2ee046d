/*
 * udp_mmsg_echo.c - hand-written UDP echo with recvmmsg/sendmmsg: the raw C
 * peer of bench/run's udp scenario (rfarm's batched datagram echo and
 * sockperf's own server are measured beside it).
 *
 * One blocking socket: recvmmsg(MSG_WAITFORONE) sleeps for the first
 * datagram and then takes whatever else is already queued, up to 64; the
 * whole batch goes back to its senders in one sendmmsg. That is the
 * cheapest a datagram echo gets without kernel bypass. With --sockperf each
 * reply has sockperf's client flag cleared (bit 0 of the big-endian 16-bit
 * flags field at byte 8 of its 14-byte header, src/message.h in sockperf),
 * as `sockperf server` does: sockperf's client drops a reply that still
 * carries the bit.
 *
 * Command line (the peers' contract, bench/README.md):
 *   udp_mmsg_echo --listen udp:HOST:PORT [--sockperf]
 * The first stdout line is the bound address ("udp:127.0.0.1:40123");
 * SIGINT/SIGTERM interrupt recvmmsg and the program exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "listen_spec.h"

#define BATCH 64
#define MAX_DATAGRAM 65536

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
    (void)signo;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    int sockperf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            spec = argv[++i];
        else if (!strcmp(argv[i], "--sockperf"))
            sockperf = 1;
        else
            spec = NULL, i = argc;
    }
    char tcp_spec[300];
    struct sockaddr_storage ss;
    socklen_t sl;
    /* listen_spec.h speaks tcp:; the address part is the same for udp:. */
    if (!spec || strncmp(spec, "udp:", 4) != 0 || snprintf(tcp_spec, sizeof tcp_spec, "tcp:%s", spec + 4) >= 300 ||
        parse_listen(tcp_spec, &ss, &sl) != 0) {
        fprintf(stderr, "usage: udp_mmsg_echo --listen udp:HOST:PORT [--sockperf]\n");
        return 2;
    }
    /* No SA_RESTART: the signal makes the blocked recvmmsg return EINTR. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        perror("udp_mmsg_echo: bind");
        return 1;
    }
    int rcvbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* clamped to rmem_max */
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    char host[INET6_ADDRSTRLEN];
    if (bound.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host, sizeof host);
        printf("udp:[%s]:%u\n", host, ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host, sizeof host);
        printf("udp:%s:%u\n", host, ntohs(((struct sockaddr_in *)&bound)->sin_port));
    }
    fflush(stdout);

    static char bufs[BATCH][MAX_DATAGRAM];
    static struct mmsghdr msgs[BATCH];
    static struct iovec iov[BATCH];
    static struct sockaddr_storage peers[BATCH];
    while (!stop) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = MAX_DATAGRAM;
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                              .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("udp_mmsg_echo: recvmmsg");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            iov[i].iov_len = msgs[i].msg_len;
            if (sockperf && msgs[i].msg_len >= 14)
                bufs[i][9] &= (char)~1; /* MsgHeader::setServer() */
        }
        for (int sent = 0; sent < n;) {
            int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
            if (k < 0) {
                if (errno == EINTR && !stop)
                    continue;
                break; /* a full send buffer drops the rest, as UDP would */
            }
            sent += k;
        }
    }
    return 0;
}
