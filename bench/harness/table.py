"""The one table each scenario reports: rfarm's variants beside every peer, one row per case and figure, the
ratio of rfarm's best to the best peer, the target the issues set, and a plain verdict.

A row is {"case", "figure", "better": "lower"|"higher", "cells": {column: stats.summary}, "target": ...}. A target
is relative ({"factor": 0.8, "peers": ["nginx"], "cmp": "le", "text": "<= 0.8x nginx"}, the rfarm column named
by "rfarm" or the best rfarm one) or absolute ({"value": 500000, "cmp": "ge", "text": ">= 500,000 tasks/s"}).
"""

from . import stats


def new(title, rfarm_columns, peer_columns, note=None):
    return {"title": title, "rfarm": list(rfarm_columns), "peers": list(peer_columns), "rows": [], "note": note}


def add_row(table, case, figure, better, cells, target=None, unit="", headline=False):
    """headline: the row also goes into the summary's headline table (rows with a target always do)."""
    table["rows"].append({"case": case, "figure": figure, "better": better, "unit": unit,
                          "cells": {k: v for k, v in cells.items() if v}, "target": target,
                          "headline": bool(headline or target)})


def _best(row, columns):
    have = [(c, row["cells"][c]) for c in columns if c in row["cells"]]
    if not have:
        return None, None
    pick = min if row["better"] == "lower" else max
    return pick(have, key=lambda cv: cv[1]["median"])


def verdict(row, table):
    """(ratio text, target text, verdict text) for a row."""
    rcol, rs = _best(row, table["rfarm"])
    pcol, ps = _best(row, table["peers"])
    ratio = verdict_text = ""
    if rs and ps and not ps["median"]:  # the peer measured zero (an idle cost it does not have)
        if rs["median"]:
            ratio = "∞ (%s / %s)" % (rcol, pcol)
            verdict_text = "**rfarm loses here**" if row["better"] == "lower" else "rfarm ahead"
    elif rs and ps:
        r = rs["median"] / ps["median"]
        ratio = "%.2f (%s / %s)" % (r, rcol, pcol)
        loses = r > 1.0 if row["better"] == "lower" else r < 1.0
        if loses:
            verdict_text = "**rfarm loses here**" + (" (within spread)" if stats.overlaps(rs, ps) else "")
        else:
            verdict_text = "rfarm ahead" + (" (within spread)" if stats.overlaps(rs, ps) else "")
    elif rs and not ps and table["peers"]:
        verdict_text = "no peer measured"
    target_text = ""
    t = row.get("target")
    if t and rs:
        mine = row["cells"].get(t.get("rfarm"), rs) if t.get("rfarm") else rs
        if "value" in t:
            ok = mine["median"] <= t["value"] if t["cmp"] == "le" else mine["median"] >= t["value"]
            target_text = "%s: %s" % (t["text"], "met" if ok else "**missed**")
        else:
            peers = [row["cells"][p]["median"] for p in t["peers"] if p in row["cells"]]
            if peers:
                ref = min(peers) if row["better"] == "lower" else max(peers)
                r = mine["median"] / ref if ref else float("inf")
                ok = r <= t["factor"] if t["cmp"] == "le" else r >= t["factor"]
                target_text = "%s: %.2f× %s" % (t["text"], r, "met" if ok else "**missed**")
            else:
                target_text = "%s: peer not measured" % t["text"]
    elif t:
        target_text = t["text"] + ": rfarm not measured"
    return ratio, target_text, verdict_text


def markdown(table):
    columns = [c for c in table["rfarm"] + table["peers"] if any(c in r["cells"] for r in table["rows"])]
    if not table["peers"]:  # rfarm's own figures (micro-benchmarks): nothing to compare within the run
        lines = ["| case | figure | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
        for row in table["rows"]:
            lines.append("| %s | %s | %s |" % (row["case"], row["figure"],
                                               " | ".join(stats.fmt_stat(row["cells"].get(c)) for c in columns)))
        return "\n".join(lines)
    lines = ["| case | figure | " + " | ".join(columns) + " | rfarm / best peer | target | verdict |",
             "|---|---|" + "---:|" * len(columns) + "---|---|---|"]
    for row in table["rows"]:
        ratio, target, verdict_text = verdict(row, table)
        figure = row["figure"] + (" (%s is better)" % row["better"] if row.get("show_better") else "")
        cells = [stats.fmt_stat(row["cells"].get(c)) for c in columns]
        lines.append("| %s | %s | %s | %s | %s | %s |" % (row["case"], figure, " | ".join(cells), ratio or "-",
                                                         target or "-", verdict_text or "-"))
    return "\n".join(lines)


def flatten(scenario, table):
    """{key: median} of every cell, for --compare: 'scenario | case | figure | column'."""
    out = {}
    for row in table["rows"]:
        for col, s in row["cells"].items():
            out["%s | %s | %s | %s" % (scenario, row["case"], row["figure"], col)] = (s["median"], row["better"])
    return out


def headline_markdown(scenarios):
    """One table over every scenario: its headline rows, rfarm's best variant beside the best peer."""
    lines = ["| scenario | case | figure | rfarm | best peer | rfarm / best peer | target | verdict |",
             "|---|---|---|---:|---:|---|---|---|"]
    for sc in scenarios:
        for t in sc["tables"]:
            if not t["peers"]:
                continue
            for row in t["rows"]:
                if not row.get("headline") or not row["cells"]:
                    continue
                rcol, rs = _best(row, t["rfarm"])
                pcol, ps = _best(row, t["peers"])
                ratio, target, verdict_text = verdict(row, t)
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    sc["name"], row["case"], row["figure"],
                    "%s: %s" % (rcol, stats.fmt_stat(rs)) if rs else "not measured",
                    "%s: %s" % (pcol, stats.fmt_stat(ps)) if ps else "-",
                    ratio.split(" (")[0] if ratio else "-", target or "-", verdict_text or "-"))
    return "\n".join(lines)
