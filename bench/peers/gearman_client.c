/*
 * gearman_client.c - the client side of the gearman peer in bench/run's farm
 * scenario: submits the trivial "add" task to gearmand (gearman_worker.c
 * runs it) and prints one JSON line of figures.
 *
 *   gearman_client --port PORT --mode throughput --tasks N [--batch B]
 *   gearman_client --port PORT --mode latency --tasks N
 *
 * throughput: N tasks, B at a time (default 1000) added with
 *   gearman_client_add_task and run with one gearman_client_run_tasks, which
 *   is libgearman's way to keep many tasks in flight on one connection (its
 *   docs: "run tasks in parallel"); every result is checked.
 *   -> {"tasks":N,"seconds":S,"tasks_per_s":R}
 * latency: N single tasks one after another with gearman_client_do (the
 *   blocking call), after N/10 unmeasured.
 *   -> {"tasks":N,"p50_us":..,"p99_us":..,"mean_us":..}
 * Exit status 1 if a task fails or returns a wrong sum.
 */
#include <libgearman/gearman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long completed, wrong;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static gearman_return_t on_complete(gearman_task_st *task)
{
    long long want = (long long)(intptr_t)gearman_task_context(task);
    char text[32];
    size_t n = gearman_task_data_size(task);
    if (n >= sizeof text)
        n = sizeof text - 1;
    memcpy(text, gearman_task_data(task), n);
    text[n] = 0;
    if (atoll(text) != want)
        wrong++;
    completed++;
    return GEARMAN_SUCCESS;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *mode = "throughput";
    in_port_t port = 0;
    long long tasks = 100000, batch = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = (in_port_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode"))
            mode = argv[i + 1];
        else if (!strcmp(argv[i], "--tasks"))
            tasks = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoll(argv[i + 1]);
    }
    if (port == 0 || tasks < 1 || batch < 1) {
        fprintf(stderr, "usage: gearman_client --port PORT --mode throughput|latency --tasks N [--batch B]\n");
        return 2;
    }
    gearman_client_st *client = gearman_client_create(NULL);
    if (!client || gearman_client_add_server(client, host, port) != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman_client: cannot reach gearmand at %s:%u\n", host, port);
        return 1;
    }
    char workload[64];
    if (!strcmp(mode, "throughput")) {
        gearman_client_set_complete_fn(client, on_complete);
        double t0 = now_s();
        for (long long done = 0; done < tasks;) {
            long long k = tasks - done < batch ? tasks - done : batch;
            for (long long i = 0; i < k; i++) {
                long long a = done + i;
                int n = snprintf(workload, sizeof workload, "%lld %d", a, 1);
                gearman_return_t ret;
                /* add_task copies the workload into its packet */
                if (!gearman_client_add_task(client, NULL, (void *)(intptr_t)(a + 1), "add", NULL, workload,
                                             (size_t)n, &ret)) {
                    fprintf(stderr, "gearman_client: add_task: %s\n", gearman_client_error(client));
                    return 1;
                }
            }
            gearman_return_t ret = gearman_client_run_tasks(client);
            if (ret != GEARMAN_SUCCESS) {
                fprintf(stderr, "gearman_client: run_tasks: %s\n", gearman_client_error(client));
                return 1;
            }
            gearman_client_task_free_all(client);
            done += k;
        }
        double s = now_s() - t0;
        if (completed != tasks || wrong) {
            fprintf(stderr, "gearman_client: %lld of %lld results, %lld wrong\n", completed, tasks, wrong);
            return 1;
        }
        printf("{\"tasks\":%lld,\"seconds\":%.6f,\"tasks_per_s\":%.1f}\n", tasks, s, (double)tasks / s);
        return 0;
    }
    long long warm = tasks / 10;
    double *rtt = malloc(sizeof(double) * (size_t)tasks);
    double sum = 0;
    for (long long i = -warm; i < tasks; i++) {
        int n = snprintf(workload, sizeof workload, "%lld 1", i + warm);
        size_t size;
        gearman_return_t ret;
        double t0 = now_s();
        char *result = gearman_client_do(client, "add", NULL, workload, (size_t)n, &size, &ret);
        double t = now_s() - t0;
        if (ret != GEARMAN_SUCCESS || !result) {
            fprintf(stderr, "gearman_client: do: %s\n", gearman_client_error(client));
            return 1;
        }
        char text[32];
        if (size >= sizeof text)
            size = sizeof text - 1;
        memcpy(text, result, size);
        text[size] = 0;
        free(result);
        if (atoll(text) != i + warm + 1) {
            fprintf(stderr, "gearman_client: wrong sum %s\n", text);
            return 1;
        }
        if (i >= 0) {
            rtt[i] = t * 1e6;
            sum += rtt[i];
        }
    }
    qsort(rtt, (size_t)tasks, sizeof *rtt, cmp_double);
    printf("{\"tasks\":%lld,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f}\n", tasks, rtt[tasks / 2],
           rtt[(long long)(0.99 * (double)(tasks - 1))], sum / (double)tasks);
    free(rtt);
    return 0;
}
