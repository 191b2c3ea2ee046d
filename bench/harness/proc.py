"""Processes the scenarios start: servers read from their first stdout line, clients run to their end, CPU time
read from the kernel's own accounting, and everything killed when done.

CPU time comes from /proc/PID/task/*/schedstat (field 1: nanoseconds on a CPU, every thread counted, so io_uring
workers and helper threads are in it), summed over the process and its descendants (nginx's worker, dask's
worker processes). That is the same source bench/echo_load.cpp uses for --server-pid.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


def loadavg():
    return list(os.getloadavg())


def descendants(pid):
    """pid and every process below it (from /proc/*/stat's parent field)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """CPU seconds used so far by the given processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def free_port(kind=socket.SOCK_STREAM):
    """A port free on 127.0.0.1 now (for servers that cannot be told to take port 0 and report it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pin(cpu, argv):
    """argv under `taskset -c CPU` (cpu may be "0,1"), or argv itself when cpu is None or taskset is missing."""
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", str(cpu)] + list(argv)


class Service:
    """A server for one measurement. With address_line, its first stdout line (read within start_timeout) is
    its bound address, as every rfarm tool and bench peer prints it; otherwise ready() is polled until true."""

    def __init__(self, argv, address_line=True, ready=None, env=None, cwd=None, start_timeout=15.0):
        self.argv = list(argv)
        self.address_line = address_line
        self.ready = ready
        self.env = env
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.proc = None
        self.address = None
        self._err = tempfile.TemporaryFile()

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        if self.address_line:
            line = []
            reader = threading.Thread(target=self._drain, args=(line,), daemon=True)
            reader.start()
            while not line and time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.01)
            if not line or not line[0].strip():
                self.stop()
                raise RuntimeError("%s printed no address line%s" % (os.path.basename(self.argv[0]), self.stderr_tail()))
            self.address = line[0].decode(errors="replace").strip()
        else:
            threading.Thread(target=self._drain, args=([],), daemon=True).start()
            while not self.ready():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("%s did not become ready%s" % (os.path.basename(self.argv[0]),
                                                                      self.stderr_tail()))
                time.sleep(0.05)
        return self.address

    def _drain(self, first):
        first.append(self.proc.stdout.readline())
        for _ in iter(lambda: self.proc.stdout.read(65536), b""):
            pass  # a chatty server never blocks on a full pipe

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        return descendants(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def cpu_seconds(self):
        return cpu_seconds(self.pids())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, limit=400):
        try:
            self._err.seek(0)
            text = self._err.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        return ("; stderr: " + text[-limit:]) if text else ""

    @contextlib.contextmanager
    def measuring(self, m, errors=(RuntimeError,)):
        """One measurement against this server, recorded in the dict m: an exception of the given kinds becomes
        m["error"], a server that died during the run is an error too, and the server is stopped whatever
        happens. The body may return early (after setting m["error"] itself)."""
        try:
            yield m
            if "error" not in m and not self.alive():
                m["error"] = "server exited during the run" + self.stderr_tail()
        except errors as e:
            m["error"] = str(e)
        finally:
            self.stop()

    def stop(self, grace=5.0):
        """SIGTERM to the whole process group, SIGKILL after grace seconds. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        else:
            try:  # the leader is gone; make sure nothing it started lingers
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.proc.returncode

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        self._err.close()
        return False


def run(argv, timeout, env=None, cwd=None):
    """Runs a client to its end. Returns (status, stdout, stderr) as text; status None after a timeout."""
    try:
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    return cp.returncode, cp.stdout.decode(errors="replace"), cp.stderr.decode(errors="replace")


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "(no message)"
