"""What bench/run needs before it measures: the peers' Debian packages and a release build of rfarm and the
C peers. Packages are installed the way scripts/install-deps.sh does it (only what is missing, apt-get as root
or through sudo); a package that cannot be had leaves its peer skipped with the reason."""

import os
import shutil
import subprocess

# Debian package -> what needs it. Libraries first: meson must see them when it configures the build.
PEER_PACKAGES = [
    ("libevent-dev", "the libevent echo peer"),
    ("libasio-dev", "the Asio echo peer"),
    ("libuv1-dev", "the libuv echo peer"),
    ("libgearman-dev", "the gearman C worker and client (farm)"),
    ("libbenchmark-dev", "the micro-benchmarks (Google Benchmark)"),
    ("nginx-light", "nginx (http and tls)"),
    ("wrk", "the HTTP load generator"),
    ("sockperf", "the UDP client and sockperf's server"),
    ("gearman-job-server", "gearmand (farm)"),
    ("python3-distributed", "dask.distributed (farm)"),
    ("python3-matplotlib", "the plots"),
]
BUILD_PACKAGES = {"libevent-dev", "libasio-dev", "libuv1-dev", "libgearman-dev", "libbenchmark-dev"}


def installed(package):
    cp = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
    return b"install ok installed" in cp.stdout


def ensure_packages(note, allow_install=True):
    """Installs the missing peer packages. Returns (newly installed, {package: why it is still missing})."""
    if shutil.which("dpkg-query") is None:
        return [], {p: "not a Debian system (no dpkg-query)" for p, _ in PEER_PACKAGES}
    missing = [p for p, _ in PEER_PACKAGES if not installed(p)]
    if not missing:
        return [], {}
    if not allow_install:
        return [], {p: "not installed (bench/run --no-install)" for p in missing}
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if sudo and shutil.which("sudo") is None:
        return [], {p: "not installed, and not root (apt-get install %s)" % p for p in missing}
    note("bench: installing %d missing Debian package(s) with apt-get: %s" % (len(missing), " ".join(missing)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got, still = [], {}
    for p in missing:  # one at a time, so one that cannot be had does not stop the others
        cp = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", p], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if cp.returncode == 0 and installed(p):
            got.append(p)
        else:
            err = cp.stderr.decode(errors="replace").strip().splitlines()
            still[p] = "apt-get install %s failed: %s" % (p, err[-1] if err else "status %d" % cp.returncode)
    return got, still


def configure(repo, build_dir, note, reconfigure=False):
    """A release build directory (no tests): the build type every figure is taken with."""
    if not os.path.isdir(os.path.join(build_dir, "meson-private")):
        note("bench: configuring a release build in %s" % build_dir)
        argv = ["meson", "setup", build_dir, repo, "-Dbuildtype=release", "-Dtests=false"]
    elif reconfigure:
        argv = ["meson", "setup", "--reconfigure", build_dir, repo]
    else:
        return None
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if cp.returncode != 0:
        return "meson setup failed:\n" + cp.stdout.decode(errors="replace")[-2000:]
    return None


def build_type(build_dir):
    try:
        cp = subprocess.run(["meson", "introspect", "--buildoptions", build_dir], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
        import json
        for o in json.loads(cp.stdout or b"[]"):
            if o.get("name") == "buildtype":
                return o.get("value")
    except (OSError, ValueError):
        pass
    return "unknown"


def build(build_dir, wanted, note, jobs=2):
    """Builds the wanted ninja targets that this build defines (a peer whose library is missing has none),
    as many as build (ninja -k 0): a program that fails to build is then skipped as "not built". Returns the
    failure's text, or None."""
    cp = subprocess.run(["ninja", "-C", build_dir, "-t", "targets", "all"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    known = {line.split(":")[0] for line in cp.stdout.decode(errors="replace").splitlines()}
    targets = [t for t in wanted if t in known]
    if not targets:
        return None
    note("bench: building %d target(s) with ninja -C %s" % (len(targets), build_dir))
    cp = subprocess.run(["ninja", "-C", build_dir, "-k", "0", "-j%d" % jobs] + targets, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
    if cp.returncode != 0:
        return "ninja failed:\n" + cp.stdout.decode(errors="replace")[-3000:]
    return None
