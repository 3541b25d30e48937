"""The compiler's Prometheus metrics (default registry, served on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

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
SANDBOX_CPU = Counter(
    "texpipe_sandbox_cpu_seconds_total",
    "User + system CPU seconds of the sandboxes' processes (TeX, BibTeX/Biber, makeindex, the"
    " driver), read from /proc just before each sandbox is killed.",
)
SANDBOX_SPARES = Counter(
    "texpipe_sandbox_spares_total",
    "Compiles that found a sandbox started for their slot ahead of them (hit) or started one"
    " (miss).",
    ["result"],
)
IN_FLIGHT = Gauge("texpipe_compiles_in_flight", "Compile requests being handled right now.")
SANDBOX_CGROUPS = Gauge(
    "texpipe_sandbox_cgroups",
    "1 for the control-group interface compile jobs run under (v1, v2 or none).",
    ["version"],
)
COMPILES_CANCELLED = Counter(
    "texpipe_compiles_cancelled_total",
    "Compiles stopped because their job was cancelled (compile.cancel_requested.v1).",
)
PASSES = Histogram(
    "texpipe_compile_passes",
    "TeX passes of a successful compile, by engine and whether it started from the "
    "document's auxiliary state (seeded).",
    ["engine", "seeded"],
    buckets=(1, 2, 3, 4, 5, 6, 8, 10, 20),
)
AUX_STATES = Counter(
    "texpipe_compile_aux_states_total",
    "Compiles by whether they started from the auxiliary state of an earlier compile of the "
    "same document (result seeded/not_seeded; reason found, none, rejected, engine, project).",
    ["result", "reason"],
)
FALLBACKS = Counter(
    "texpipe_compile_incremental_fallbacks_total",
    "Compiles that started from a state or format, did not succeed, and ran again from scratch.",
    ["engine"],
)
FORMATS = Counter(
    "texpipe_compile_preamble_formats_total",
    "Preamble formats: hit, miss (first_sight, second_sight, inputs_changed, format_missing), "
    "dumped, undumpable (engine, no_preamble, native_fonts, clock, reads_outside, ...).",
    ["result", "reason"],
)
