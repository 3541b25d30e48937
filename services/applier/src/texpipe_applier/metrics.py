"""The applier's Prometheus metrics (served by the ops server's /metrics)."""

from prometheus_client import Counter, Histogram

STARTED = Counter(
    "texpipe_applier_started_total",
    "Compile-started notices, by the api's answer (applied, not_found, ...; undecodable).",
    ["answer"],
)
RESULTS = Counter(
    "texpipe_applier_results_total",
    "Results delivered to the api, by the api's answer (applied, stale, result_invalid, ...).",
    ["answer"],
)
RETRIES = Counter(
    "texpipe_applier_retries_total",
    "Results sent to a retry queue, by the answer that caused the retry.",
    ["answer"],
)
DEAD_LETTERED = Counter(
    "texpipe_applier_dead_lettered_total",
    "Results the applier put into the dead-letter queue, by error code.",
    ["code"],
)
DEAD_JOBS = Counter(
    "texpipe_applier_dead_jobs_total",
    "Dead letters reported to the api as dead jobs, by source queue and the api's answer.",
    ["queue", "answer"],
)
API_SECONDS = Histogram(
    "texpipe_applier_api_call_seconds",
    "Time of one call to the api's internal result endpoint.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
