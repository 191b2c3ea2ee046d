"""Every scenario, in the order bench/run runs them. Each module has NAME, TITLE, estimate(ctx) (seconds) and
run(ctx, result), which fills result's measurements (raw figures), tables, plots, skipped peers and errors."""

from . import c10k, crosscore, echo, farm, faults, fuzz, http, micro, tls, udp, unix

ALL = [echo, http, udp, unix, tls, c10k, crosscore, farm, micro, fuzz, faults]
