"""PNG plots with matplotlib (Debian python3-matplotlib), Agg backend: no display needed. Every point is a
median with its min-max range drawn as an error bar; rfarm's lines are solid, the peers' dashed."""

import os

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    HAVE_MATPLOTLIB = True
except ImportError:  # the suite still writes results.json and summary.md
    HAVE_MATPLOTLIB = False

STYLE = {"rfarm": {"linestyle": "-", "linewidth": 2.2, "marker": "o"},
         "peer": {"linestyle": "--", "linewidth": 1.2, "marker": "s"}}


def _err(stats):
    return [[s["median"] - s["min"] for s in stats], [s["max"] - s["median"] for s in stats]]


def lines(path, title, xlabel, ylabel, series, logx=False, logy=False):
    """series: [(name, is_rfarm, [(x, summary)])]. Returns path, or None without matplotlib or data."""
    series = [(n, r, [p for p in pts if p[1]]) for n, r, pts in series]
    series = [s for s in series if s[2]]
    if not HAVE_MATPLOTLIB or not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for name, is_rfarm, pts in series:
        xs = [p[0] for p in pts]
        st = [p[1] for p in pts]
        ax.errorbar(xs, [s["median"] for s in st], yerr=_err(st), label=name, capsize=3,
                    **STYLE["rfarm" if is_rfarm else "peer"])
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def bars(path, title, ylabel, groups, names, rfarm_names=(), logy=False):
    """groups: [(group label, {name: summary})]; one bar per name in each group."""
    if not HAVE_MATPLOTLIB:
        return None
    names = [n for n in names if any(n in g[1] and g[1][n] for g in groups)]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(names)) / 2), 5), dpi=110)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for gi, (_, cells) in enumerate(groups):
            s = cells.get(name)
            if not s:
                continue
            xs.append(gi + i * width)
            ys.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=name,
               hatch=None if name in rfarm_names else "//", edgecolor="black", linewidth=0.5)
    ax.set_xticks([gi + 0.4 - width / 2 for gi in range(len(groups))])
    ax.set_xticklabels([g[0] for g in groups], fontsize=8)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def record(result, ctx, path, title):
    """Adds a written plot to the scenario's result (file name relative to the results directory)."""
    if path:
        result["plots"].append({"title": title, "file": os.path.relpath(path, ctx.out_dir)})
