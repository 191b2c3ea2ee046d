/*
 * listen_spec.h - the command-line contract every C peer shares with rfarm's
 * tools/echo-server (bench/README.md): `--listen tcp:HOST:PORT` (or
 * `unix:PATH` for the peers that serve Unix stream sockets too) in, the bound
 * address in the same form as the first stdout line out.
 */
#ifndef RFARM_BENCH_LISTEN_SPEC_H
#define RFARM_BENCH_LISTEN_SPEC_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* "tcp:HOST:PORT" -> address. HOST may be "[v6]" or empty (any address);
 * PORT 0 asks for a free port. Returns 0, or -1 if spec is malformed. */
static inline int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
    if (strncmp(spec, "unix:", 5) == 0) { /* a filesystem path; the caller picks a fresh one */
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(spec + 5);
        if (n == 0 || n >= sizeof un->sun_path)
            return -1;
        memset(un, 0, sizeof *un);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, spec + 5, n);
        *sl = (socklen_t)sizeof *un;
        return 0;
    }
    if (strncmp(spec, "tcp:", 4) != 0)
        return -1;
    const char *hp = spec + 4;
    const char *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    char host[256];
    size_t hl = (size_t)(colon - hp);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, hp, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Prints a bound address as "tcp:HOST:PORT" ("tcp:[v6]:PORT", "unix:PATH") and flushes at
 * once: the harness waits for this line. */
static inline void print_bound_address(const struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_UNIX) {
        printf("unix:%s\n", ((const struct sockaddr_un *)ss)->sun_path);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        printf("tcp:[%s]:%u\n", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        printf("tcp:%s:%u\n", host, ntohs(a->sin_port));
    }
    fflush(stdout);
}

#endif
