"""Prometheus metrics of the api (served at /metrics from the default registry)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "texpipe_api_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "texpipe_api_http_request_seconds",
    "Time to answer an HTTP request (long-polls included).",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS_SUBMITTED = Counter(
    "texpipe_api_jobs_submitted_total", "New compile jobs (requests that join a job not counted)."
)
JOBS_SUPERSEDED = Counter(
    "texpipe_api_jobs_superseded_total",
    "Queued jobs that a newer compile request of their document replaced before publishing.",
)
RESULTS = Counter(
    "texpipe_api_results_total", "Results taken by the internal endpoint, by answer.", ["answer"]
)
OUTBOX_PUBLISHED = Counter(
    "texpipe_api_outbox_published_total", "Outbox messages confirmed by the broker."
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "texpipe_api_outbox_publish_failures_total", "Outbox publishes the broker did not confirm."
)
OUTBOX_PENDING = Gauge(
    "texpipe_api_outbox_pending", "Outbox rows not yet published (sampled by the relay)."
)
JOBS_CANCELLED = Counter(
    "texpipe_api_jobs_cancelled_total", "Jobs cancelled (POST /v1/jobs/{id}/cancel)."
)
EVENT_STREAMS = Gauge(
    "texpipe_api_event_streams", "Document event streams open (GET /v1/documents/{id}/events)."
)
JOBS_PRUNED = Counter("texpipe_api_jobs_pruned_total", "Finished jobs deleted by retention.")
PING_SECONDS = Histogram(
    "texpipe_api_ping_seconds",
    "Total time of an enqueue ping (POST /internal/v1/ping), by result.",
    ["result"],  # ok, failed, timeout
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
