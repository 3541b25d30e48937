"""Typed keys of what the application shares (aiohttp AppKey: no string keys, mypy checks)."""

from typing import Any

import asyncpg
from aiohttp import web
from texpipe_servicekit.s3 import S3Store

from texpipe_api.auth import TenantResolver
from texpipe_api.batching import CompileBatcher
from texpipe_api.config import Settings
from texpipe_api.document_events import StreamSlots
from texpipe_api.documents import DocumentDeps
from texpipe_api.jobs import JobPolicy
from texpipe_api.notify import NotificationListener
from texpipe_api.outbox import OutboxRelay
from texpipe_api.waiters import JobWaiters

SETTINGS = web.AppKey("settings", Settings)
PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
S3 = web.AppKey("s3", S3Store)
WAITERS = web.AppKey("waiters", JobWaiters)
RELAY = web.AppKey("relay", OutboxRelay)
LISTENER = web.AppKey("listener", NotificationListener)
TENANTS = web.AppKey("tenants", TenantResolver)
JOB_POLICY = web.AppKey("job_policy", JobPolicy)
DOCUMENT_DEPS = web.AppKey("document_deps", DocumentDeps)
BATCHER = web.AppKey("batcher", CompileBatcher)
DOCUMENT_WAITERS = web.AppKey("document_waiters", JobWaiters)
"""Streams waiting for a document's next event (keyed by document id)."""
STREAM_SLOTS = web.AppKey("stream_slots", StreamSlots)
OPENAPI = web.AppKey("openapi", dict[str, Any])
