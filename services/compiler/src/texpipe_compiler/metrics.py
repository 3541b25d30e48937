"""The compiler's Prometheus metrics (default registry, served on /metrics)."""

import resource
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

COMPILE_SECONDS = Histogram(
    "texpipe_compile_duration_seconds",
    "Time from taking a compile request to having its result, by engine and outcome.",
    ["engine", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1500),
)
CACHE_HITS = Counter(
    "texpipe_compile_cache_hits_total",
    "Compile requests answered from outputs already in S3, without running TeX.",
    ["engine"],
)
COMPILES_STARTED = Counter(
    "texpipe_compiles_started_total",
    "Compile requests whose sources were accepted and whose sandbox was started"
    " (not cache hits, not rejected bundles).",
    ["engine"],
)
IN_FLIGHT = Gauge("texpipe_compiles_in_flight", "Compile requests being handled right now.")
SANDBOX_CGROUPS = Gauge(
    "texpipe_sandbox_cgroups",
    "1 for the control-group interface compile jobs run under (v1, v2 or none).",
    ["version"],
)


class ChildrenCpuCollector(Collector):
    """``texpipe_compiler_children_cpu_seconds_total``: user + system CPU seconds of every
    child process of the compiler that has ended and been waited for, read from
    ``getrusage(RUSAGE_CHILDREN)`` at each scrape.

    Each sandbox is a child (its wrapper execs ``setpriv``, ``prlimit`` and ``bwrap``), and
    every process in it is waited for by its parent up to the sandbox's pid 1, so a finished
    sandbox adds the CPU of TeX, BibTeX/Biber, makeindex and the driver; page counters add
    theirs. A sandbox still running adds nothing yet. ``process_cpu_seconds_total`` is the
    compiler's own CPU, without its children.
    """

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One sample: the CPU seconds so far."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        yield CounterMetricFamily(
            "texpipe_compiler_children_cpu_seconds",
            "User + system CPU seconds of the compiler's ended child processes (sandboxes,"
            " page counters): getrusage(RUSAGE_CHILDREN).",
            value=usage.ru_utime + usage.ru_stime,
        )


REGISTRY.register(ChildrenCpuCollector())
