"""Medians with their spread: every figure the suite reports is one of these, never a single run."""

import math
import statistics


def summary(values):
    """{"median", "min", "max", "n", "values"} of the numbers in values (None and NaN dropped), or None."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(float(v))]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals), "values": vals}


def spread_pct(s):
    """Half the min-max range as a percentage of the median: how far to trust the median."""
    if not s or not s["median"]:
        return None
    return 50.0 * (s["max"] - s["min"]) / abs(s["median"])


def percentile(sorted_values, q):
    """The q-quantile (0..1) of an already sorted list, nearest rank."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(math.ceil(q * len(sorted_values))) - 1))
    return sorted_values[k]


def fmt_number(v):
    """A figure with three significant digits, thousands grouped: 1.73, 17.3, 173, 1,730, 17,300, 1.73M."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e7:
        return "%.3gM" % (v / 1e6)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def fmt_stat(s):
    """'1.73 (1.70-1.80)': median and the range over the repetitions; one run shows the median alone."""
    if not s:
        return "-"
    if s["n"] < 2 or s["min"] == s["max"]:
        return fmt_number(s["median"])
    return "%s (%s–%s)" % (fmt_number(s["median"]), fmt_number(s["min"]), fmt_number(s["max"]))


def overlaps(a, b):
    """Do the min-max ranges of two summaries overlap (the difference is within the noise)?"""
    return a["min"] <= b["max"] and b["min"] <= a["max"]
