"""idle_rss.py - what bench/idle_memory.py and bench/farm_idle_memory.py both measure: a server's resident set
size (VmRSS) with no connection, with N/2 and with N idle connections, and from that the bytes per connection.

The average, (after - before) / N, charges each connection its share of everything the server grew by; the
marginal figure, (after - middle) / (N - N/2), leaves out memory that grows with use up to a fixed bound rather
than with connections (an io_uring provided-buffer ring touched buffer by buffer; see bench/idle_memory.py).

Python stdlib only.
"""

import resource
import sys


def rss_kib(pid):
    """The process's VmRSS in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def allow_connections(conns, who):
    """Raises the open-files limit to its hard limit; exits (saying so) if conns sockets would not fit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if conns + 100 > hard:
        sys.exit("%s: %d connections do not fit the open-files limit %d" % (who, conns, hard))


def rss_points(pid, open_more, conns):
    """(before, middle, after): VmRSS with no connection, after open_more(conns // 2), after open_more(the rest).
    open_more(count) opens count more connections and returns once each has been served."""
    before = rss_kib(pid)
    open_more(conns // 2)
    middle = rss_kib(pid)
    open_more(conns - conns // 2)
    return before, middle, rss_kib(pid)


def bytes_per_connection(before, middle, after, conns):
    """(average, marginal) bytes per connection from rss_points' figures."""
    return (after - before) * 1024.0 / conns, (after - middle) * 1024.0 / (conns - conns // 2)
