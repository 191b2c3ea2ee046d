/*
 * gearman_worker.c - a Gearman worker in C (libgearman, Debian
 * libgearman-dev) that does the farm scenario's trivial task: "add", two
 * integers in ("3 4", Gearman workloads are bytes, so text is the natural
 * encoding), their sum out. The gearman peer of bench/run's farm scenario
 * runs one gearmand and one or two of these (the rfarm side: one or two
 * farm-servers), with gearman_client.c submitting.
 *
 * Written the way libgearman's examples/reverse_worker.cc does it: one
 * gearman_worker_st, gearman_worker_add_function, gearman_worker_work in a
 * loop; the result is malloc'd because libgearman frees it.
 *
 *   gearman_worker --port PORT [--host 127.0.0.1]
 *
 * Prints "ready" on stdout once registered; SIGTERM ends it (default action).
 */
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *add(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret)
{
    (void)context;
    char text[64];
    size_t n = gearman_job_workload_size(job);
    if (n >= sizeof text) {
        *ret = GEARMAN_WORK_FAIL;
        return NULL;
    }
    memcpy(text, gearman_job_workload(job), n);
    text[n] = 0;
    long long a = 0, b = 0;
    if (sscanf(text, "%lld %lld", &a, &b) != 2) {
        *ret = GEARMAN_WORK_FAIL;
        return NULL;
    }
    char *out = malloc(32);
    if (!out) {
        *ret = GEARMAN_MEMORY_ALLOCATION_FAILURE;
        return NULL;
    }
    *result_size = (size_t)snprintf(out, 32, "%lld", a + b);
    *ret = GEARMAN_SUCCESS;
    return out;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    in_port_t port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = (in_port_t)atoi(argv[i + 1]);
    }
    if (port == 0) {
        fprintf(stderr, "usage: gearman_worker --port PORT [--host HOST]\n");
        return 2;
    }
    gearman_worker_st *worker = gearman_worker_create(NULL);
    if (!worker || gearman_worker_add_server(worker, host, port) != GEARMAN_SUCCESS ||
        gearman_worker_add_function(worker, "add", 0, add, NULL) != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman_worker: %s\n", worker ? gearman_worker_error(worker) : "cannot create");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        gearman_return_t ret = gearman_worker_work(worker);
        if (ret != GEARMAN_SUCCESS && ret != GEARMAN_WORK_FAIL) {
            fprintf(stderr, "gearman_worker: %s\n", gearman_worker_error(worker));
            return 1;
        }
    }
}
