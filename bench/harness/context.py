"""What every scenario gets: where the binaries are, the run's mode (full, quick, smoke), the CPUs to pin to,
the progress line, and one place to record a skipped peer with its reason."""

import os
import tempfile

from . import proc


class Context:
    def __init__(self, repo, build_dir, out_dir, mode, reps, counters, progress, missing_packages):
        self.repo = repo
        self.build_dir = build_dir
        self.out_dir = out_dir
        self.mode = mode                  # "full", "quick" or "smoke"
        self.reps = reps
        self.counters = counters
        self.progress = progress
        self.missing_packages = missing_packages  # {package: why}
        ncpu = os.cpu_count() or 1
        # Server on CPU 0, client on CPU 1: they never compete for a core, and the server's CPU time is its own.
        self.server_cpu = 0 if ncpu >= 2 else None
        self.client_cpu = 1 if ncpu >= 2 else None
        self.all_cpus = "0-%d" % (ncpu - 1)
        self.shared = {}                  # what one scenario leaves for a later one (echo's runs for c10k)
        self._tmp = tempfile.TemporaryDirectory(prefix="rfarm-bench-")
        self.tmp = self._tmp.name

    @property
    def quick(self):
        return self.mode != "full"

    @property
    def smoke(self):
        return self.mode == "smoke"

    def pick(self, full, quick, smoke):
        return {"full": full, "quick": quick, "smoke": smoke}[self.mode]

    def exe(self, rel):
        """The built program at build_dir/rel, or None."""
        path = os.path.join(self.build_dir, rel)
        return path if os.access(path, os.X_OK) else None

    def server_argv(self, argv):
        return proc.pin(self.server_cpu, argv)

    def client_argv(self, argv):
        return proc.pin(self.client_cpu, argv)

    def skip(self, result, peer, why):
        """One line saying why a peer (or the whole scenario, peer None) is not measured."""
        result["skipped"].append({"peer": peer, "why": why})
        self.progress.note("skip %s%s: %s" % (result["name"], "/" + peer if peer else "", why))

    def package_missing(self, package):
        return self.missing_packages.get(package)

    def cleanup(self):
        self._tmp.cleanup()


def new_result(name, title):
    return {"name": name, "title": title, "skipped": [], "measurements": [], "tables": [], "plots": [],
            "config": {}, "notes": [], "errors": []}
