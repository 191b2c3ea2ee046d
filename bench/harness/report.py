"""results.json (every raw figure), summary.md (one table per scenario) and --compare (the ratio of each
figure to an earlier run's)."""

import json
import os

from . import table as tables
from .progress import fmt_duration

# How each peer is set up, as the summary states it (each the way its own documentation recommends for
# throughput, within the rules every peer shares: same machine, build type and message sizes, one core).
PEER_CONFIG = {
    "raw-epoll": "bench/peers/raw_epoll_echo.c: edge-triggered epoll, read/write, one shared 64 KiB buffer",
    "raw-epoll-recv": "the same loop with recv/send (rfarm's syscalls, no library): the floor for rfarm-epoll",
    "raw-uring": "bench/peers/raw_uring_echo.c: liburing 2.3, multishot accept and receive into a provided buffer "
                 "ring, one submit per loop turn",
    "libuv": "bench/peers/libuv_echo.c: libuv 1.44, static read buffer, uv_try_write first",
    "libevent": "bench/peers/libevent_echo.c: libevent 2.1 event loop (struct event, not bufferevent, which copies "
                "every byte twice), static read buffer, write straight back",
    "asio": "bench/peers/asio_echo.cpp: standalone Asio 1.22 as its async_tcp_echo_server example, one "
            "single-threaded io_context (concurrency hint 1), 64 KiB session buffer",
    "nginx": "nginx-light 1.22, config generated per run: worker_processes 1 (pinned to the server CPU), "
             "access_log off, keepalive_requests 1000000, `return 200 \"Hello, World!\"` with the same headers as "
             "http-hello, epoll, multi_accept on, tcp_nodelay on; TLS: the same certificate, TLS 1.3, "
             "ssl_session_cache shared:SSL:10m and session tickets on",
    "raw-epoll-http": "bench/peers/raw_epoll_http.c: edge-triggered epoll, answers every complete request of a "
                      "read in one send, cached response",
    "sockperf-server": "sockperf 3.7 `sockperf server` (its own recvfrom/sendto loop)",
    "raw-mmsg": "bench/peers/udp_mmsg_echo.c: blocking recvmmsg(MSG_WAITFORONE) up to 64, one sendmmsg back",
    "openssl-blocking": "bench/tls_bench.cpp's textbook blocking OpenSSL server (SSL_accept/SSL_read/SSL_write on "
                        "blocking sockets), same certificate and defaults (TLS 1.3, X25519, AES-256-GCM)",
    "openssl-s_server": "`openssl s_server` (OpenSSL's own blocking server), same certificate",
    "gearman": "gearmand 1.1.20 (--threads 1, in memory) with C workers (bench/peers/gearman_worker.c) and a C "
               "client submitting batches with gearman_client_add_task + run_tasks (its parallel-task API)",
    "dask": "dask.distributed 2022.12: dask-scheduler and dask-worker processes on loopback (one thread each, no "
            "nanny), the client (bench/peers/dask_bench.py) using client.map for throughput, "
            "client.submit().result() for latency, client.run for broadcast",
    "mutex-cv": "cross_core_bench's textbook bounded queue (lock, push one, notify) between two pinned threads",
    "mutex-cv-batch": "the same queue used well: a batch per lock and notify",
}


def write_json(path, results):
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)


def _load(values):
    return "%.2f / %.2f / %.2f" % tuple(values) if values else "-"


def summary_markdown(results):
    m = results["meta"]
    out = ["# rfarm bench: %s on %s" % (m["date"], m["host"]), ""]
    out.append("Command: `%s` (mode %s, %s repetition(s) per figure; each cell is the median and, in brackets, the "
               "range over the repetitions)." % (m["command"], m["mode"], m["reps"]))
    out.append("")
    out.append("Machine: %s, %d CPUs, kernel %s; rfarm %s, build type %s. Server pinned to CPU %s, client to CPU %s. "
               "Wall time %s." % (m["cpu_model"], m["cpus"], m["kernel"], m["commit"], m["build_type"],
                                  m["server_cpu"], m["client_cpu"], fmt_duration(m.get("elapsed_s", 0))))
    out.append("")
    out.append("Load average (1/5/15 min) at the start: %s; at the end: %s. %s" % (
        _load(m["loadavg_start"]), _load(m.get("loadavg_end")),
        "The machine was shared with other work: CPU per operation is the figure to read, rates and latencies "
        "moved with the competition." if m["loadavg_start"][0] > 1.0 else ""))
    out.append("")
    out.append("## Headline")
    out.append("")
    out.append("The figures the issues set targets for, and each scenario's primary figure: rfarm's best variant "
               "beside the best peer (median and range over the repetitions); the tables below have every peer.")
    out.append("")
    out.append(tables.headline_markdown(results["scenarios"].values()))
    out.append("")
    used = set()
    for sc in results["scenarios"].values():
        for t in sc["tables"]:
            used.update(t["peers"])
    out.append("## How the peers were set up")
    out.append("")
    for name in sorted(used):
        if name in PEER_CONFIG:
            out.append("- **%s**: %s" % (name, PEER_CONFIG[name]))
    out.append("")
    for sc in results["scenarios"].values():
        out.append("## %s (`%s`)" % (sc["title"], sc["name"]))
        out.append("")
        load = sc.get("load", {})
        out.append("Load average before / after: %s / %s; took %s." % (
            "%.2f" % load["before"][0] if load.get("before") else "-",
            "%.2f" % load["after"][0] if load.get("after") else "-", fmt_duration(sc.get("elapsed_s", 0))))
        out.append("")
        for s in sc["skipped"]:
            out.append("- skipped %s: %s" % (s["peer"] or "(scenario)", s["why"]))
        for e in sc.get("errors", []):
            out.append("- failed: %s" % e)
        if sc["skipped"] or sc.get("errors"):
            out.append("")
        for t in sc["tables"]:
            if not t["rows"]:
                continue
            if t.get("title"):
                out.append("**%s**" % t["title"])
                out.append("")
            out.append(tables.markdown(t))
            out.append("")
            if t.get("note"):
                out.append(t["note"])
                out.append("")
        for n in sc.get("notes", []):
            out.append("- " + n)
        if sc.get("notes"):
            out.append("")
        for p in sc.get("plots", []):
            out.append("![%s](%s)" % (p["title"], p["file"]))
            out.append("")
    return "\n".join(out)


def write_summary(path, results):
    with open(path, "w") as f:
        f.write(summary_markdown(results))


def figures(results):
    out = {}
    for name, sc in results["scenarios"].items():
        for t in sc["tables"]:
            out.update(tables.flatten(name, t))
    return out


def compare(new_results, old_dir, write=print):
    """Prints new / old for every figure both runs have; flags the ones that got worse by more than 10%."""
    with open(os.path.join(old_dir, "results.json")) as f:
        old = json.load(f)
    a, b = figures(old), figures(new_results)
    common = [k for k in b if k in a and a[k][0]]
    write("compare: %d figure(s) in both runs (new / old; > 1 means a bigger number now)" % len(common))
    worse = 0
    for k in sorted(common):
        ratio = b[k][0] / a[k][0]
        better = b[k][1]
        regressed = ratio > 1.10 if better == "lower" else ratio < 0.90
        worse += regressed
        write("  %-90s %8.3f%s" % (k, ratio, "  <- worse" if regressed else ""))
    gone = [k for k in a if k not in b]
    if gone:
        write("  %d figure(s) of the old run are not in this one" % len(gone))
    write("compare: %d figure(s) more than 10%% worse" % worse)
    return worse
