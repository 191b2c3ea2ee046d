"""Small pieces every scenario uses: the interleaved order of servers, grouping raw measurements into the
summaries a table cell holds, and the load average around a scenario."""

from . import stats


def rotated(names, rep):
    """The servers in the order they run in repetition rep: rotated every repetition, so slow drift (other
    jobs, thermal state, page cache) hits every server alike instead of whichever always runs last."""
    if not names:
        return []
    k = rep % len(names)
    return names[k:] + names[:k]


def value(m, path):
    """m["a"]["b"] for path "a.b"; None when absent or when the measurement failed."""
    if "error" in m:
        return None
    v = m
    for part in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v if isinstance(v, (int, float)) else None


def cells(measurements, names, path, scale=1.0, **match):
    """{server: summary of path over the measurements matching **match}."""
    out = {}
    for name in names:
        vals = [value(m, path) for m in measurements
                if m.get("server") == name and all(m.get(k) == v for k, v in match.items())]
        vals = [v * scale for v in vals if v is not None]
        s = stats.summary(vals)
        if s:
            out[name] = s
    return out


def per_op(numerator_s, count, unit=1e6):
    """CPU seconds / operations, in µs (unit 1e6) or ns (1e9); None when nothing was counted."""
    if not count:
        return None
    return numerator_s * unit / count
