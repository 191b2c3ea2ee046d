"""Fuzz: the long run of the libFuzzer targets (test/fuzz/, issue 15) through scripts/fuzz.sh, which builds them in
build-fuzz/ with clang-19. Full runs only (RFARM_FUZZ_SECONDS per target, default 600); --quick skips it, since
CI already runs every target for 20 s. The figure is executions per target without a crash, leak or sanitizer
report; issue 15 asks for 10 million each: RFARM_FUZZ_RUNS=10000000 stops each target there (RFARM_FUZZ_SECONDS
is then the cap per target)."""

import os
import re

from . import proc, stats, table

NAME = "fuzz"
TITLE = "Fuzzing (libFuzzer, ASan + UBSan)"
TARGETS = ["frame_decoder", "flex_values", "address", "endpoint", "stream_readers", "frame_reader", "http_chunked",
           "http_request", "hosts_file"]
ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\d+)\s+(.*)$")


def seconds():
    return int(os.environ.get("RFARM_FUZZ_SECONDS", "600"))


def estimate(ctx):
    return 0 if ctx.quick else len(TARGETS) * seconds() + 300  # + the clang build


def run(ctx, result):
    if ctx.quick:
        ctx.skip(result, None, "a long run: full mode only (CI runs each target for 20 s)")
        return
    if not os.access("/usr/bin/clang-19", os.X_OK):
        ctx.skip(result, None, "clang-19 is missing (apt-get install clang-19 libfuzzer-19-dev)")
        return
    s = seconds()
    runs = int(os.environ.get("RFARM_FUZZ_RUNS", "0"))
    argv = [os.path.join(ctx.repo, "scripts", "fuzz.sh"), "--seconds", str(s)] + (["--runs", str(runs)] if runs else [])
    ctx.progress.step(" ".join(["scripts/fuzz.sh"] + argv[1:]) + " (%d targets)" % len(TARGETS), len(TARGETS) * s + 300)
    status, out, err = proc.run(argv,
                                timeout=len(TARGETS) * (s + 120) + 1800)
    result["config"] = {"seconds_per_target": s, "runs_per_target": runs or None}
    t = table.new("", ["rfarm"], [])
    for line in out.splitlines():
        m = ROW.match(line)
        if not m or m.group(1) == "target":
            continue
        name, runs, rate, verdict = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        result["measurements"].append({"target": name, "executions": runs, "exec_per_s": rate, "result": verdict})
        table.add_row(t, name, "executions (cap %d s)" % s, "higher", {"rfarm": stats.summary([runs])},
                      target={"value": 10_000_000, "cmp": "ge", "text": ">= 10 million executions"})
        if not verdict.startswith("ok"):
            result["errors"].append("%s: %s" % (name, verdict))
    if status != 0 and not result["errors"]:
        result["errors"].append("scripts/fuzz.sh: exit %s: %s" % (status, proc.last_line(err or out)))
    t["note"] = "Each target on its seeds (test/fuzz/corpus/) plus what earlier runs found (build-fuzz/fuzz-corpus/)."
    result["tables"].append(t)
