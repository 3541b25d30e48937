"""The RabbitMQ topology as data: every exchange, queue, binding and argument.

Services declare exactly what :func:`build_topology` returns (through the service kit), and
``infra/rabbitmq/definitions.json`` is checked against it by a test. A namespace (from the
environment, ``TEXPIPE_NAMESPACE``) prefixes every name, so two deployments or two test runs
share one broker without seeing each other; the empty namespace gives the names in DESIGN.md.

Shape::

    exchange latex (topic) --compile.requested.v1--> latex.compile  --dead--> latex.dlx
    exchange latex (topic) --compile.completed.v1--> latex.apply    --dead--> latex.dlx
    exchange latex (topic) --compile.started.v1----> latex.apply
    latex.apply.retry.N (per-message TTL) --expired--> default exchange --> latex.apply
    exchange latex.dlx (direct) --latex.compile--> latex.compile.dlq, latex.dead-jobs
    exchange latex.dlx (direct) --latex.apply-->   latex.apply.dlq,   latex.dead-jobs

Events for whoever listens (queues declared by their consumers, not here)::

    exchange latex (topic) --compile.cancel_requested.v1--> each compiler's own queue
    exchange latex (topic) --document.pdf_applied.v1-->     the platform services' queues
"""

from dataclasses import dataclass, field
from typing import Literal

COMPILE_REQUESTED_V1 = "compile.requested.v1"
COMPILE_COMPLETED_V1 = "compile.completed.v1"
COMPILE_STARTED_V1 = "compile.started.v1"
"""A progress signal, bound to the apply queue: the applier tells the api a compile began."""
COMPILE_CANCEL_REQUESTED_V1 = "compile.cancel_requested.v1"
"""Every compiler process binds a queue of its own (exclusive, auto-delete) to this key: a
broadcast, not a work queue, so texpipe's declared topology has no queue for it."""
PDF_APPLIED_V1 = "document.pdf_applied.v1"
"""For the platform's other services: each binds a queue of its own (texpipe declares none;
see docs/events.md). Published without ``mandatory``: with no queue bound it is dropped."""

COMPILE_DELIVERY_LIMIT = 50
"""A backstop only. RabbitMQ 3.10 counts every return of a delivery (a lost connection as much
as a crash), so this limit cannot tell poison from an outage: the compiler counts its own
deaths (TEXPIPE_COMPILE_MAX_STARTS, 3) and holds messages through outages instead of returning
them. 50 lets a message ride out dozens of dropped connections."""
APPLY_DELIVERY_LIMIT = 50
"""A backstop against an applier that crashes on a message; retries are counted by header,
outages hold the message (docs/architecture.md, transient or poison)."""
QUORUM_REPLICAS = 3
"""Nodes that hold a replica of every texpipe queue (DESIGN.md: quorum queues replicated on
three nodes; a majority, 2, keeps a queue available through the loss of one node). It is the
broker's setting ``quorum_cluster_size`` (RabbitMQ's default, 3, on 3.10 and 4.x), not a queue
argument: RabbitMQ compares ``x-quorum-initial-group-size`` when a queue is declared again, so
adding it would fail every declaration of the queues that already exist (tried on 3.10:
PRECONDITION_FAILED, "inequivalent arg"). The test cluster sets it from here
(``texpipe_testing.cluster``); docs/architecture.md says how an operator does."""
RETRY_TIERS = 8
"""One retry queue per attempt number, so that messages in one queue have similar delays."""
DLQ_MAX_LENGTH = 100_000
DLQ_MAX_AGE_MS = 14 * 24 * 3600 * 1000
DEAD_JOBS_MAX_AGE_MS = 7 * 24 * 3600 * 1000

# Headers texpipe sets on messages it republishes.
HEADER_ATTEMPT = "x-texpipe-attempt"
"""How many times the applier has already tried this result (0 on the first delivery)."""
HEADER_REASON = "x-texpipe-reason"
"""Why a message was dead-lettered, in words an operator can act on."""
HEADER_ERROR_CODE = "x-texpipe-error-code"
HEADER_DEAD_AT = "x-texpipe-dead-lettered-at"
HEADER_SOURCE_QUEUE = "x-texpipe-source-queue"
HEADER_REPLAYS = "x-texpipe-replays"

ExchangeType = Literal["topic", "direct", "fanout"]
ArgValue = str | int | bool


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """A durable exchange."""

    name: str
    type: ExchangeType


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """Messages published to ``exchange`` with ``routing_key`` reach the queue."""

    exchange: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A durable queue with its arguments and bindings."""

    name: str
    arguments: dict[str, ArgValue] = field(default_factory=dict)
    bindings: tuple[BindingSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    """Every name a texpipe deployment uses on its broker."""

    namespace: str
    exchange: ExchangeSpec
    dead_letter_exchange: ExchangeSpec
    compile_queue: QueueSpec
    apply_queue: QueueSpec
    compile_dlq: QueueSpec
    apply_dlq: QueueSpec
    dead_jobs_queue: QueueSpec
    retry_queues: tuple[QueueSpec, ...]

    @property
    def exchanges(self) -> tuple[ExchangeSpec, ...]:
        """All exchanges, in declaration order."""
        return (self.exchange, self.dead_letter_exchange)

    @property
    def queues(self) -> tuple[QueueSpec, ...]:
        """All queues, dead-letter targets first so dead-lettering never finds them missing."""
        return (
            self.compile_dlq,
            self.apply_dlq,
            self.dead_jobs_queue,
            self.compile_queue,
            self.apply_queue,
            *self.retry_queues,
        )

    def cancel_queue_name(self, instance: str) -> str:
        """The exclusive queue on which the compiler process ``instance`` hears cancels."""
        prefix = f"{self.namespace}." if self.namespace else ""
        return f"{prefix}latex.compile.cancel.{instance}"

    @property
    def dead_letter_queues(self) -> tuple[QueueSpec, ...]:
        """The queues an operator lists and replays."""
        return (self.compile_dlq, self.apply_dlq)

    def retry_queue(self, attempt: int) -> QueueSpec:
        """The retry queue for the ``attempt``-th retry (1-based); beyond the tiers, the last."""
        return self.retry_queues[min(max(attempt, 1), len(self.retry_queues)) - 1]

    def work_queue_for_dlq(self, dlq_name: str) -> QueueSpec:
        """The work queue whose dead letters ``dlq_name`` holds."""
        pairs = {self.compile_dlq.name: self.compile_queue, self.apply_dlq.name: self.apply_queue}
        return pairs[dlq_name]


def _quorum(extra: dict[str, ArgValue]) -> dict[str, ArgValue]:
    return {"x-queue-type": "quorum", **extra}


def _work_queue_args(dlx: str, dead_key: str, delivery_limit: int) -> dict[str, ArgValue]:
    # At-least-once dead-lettering needs reject-publish overflow (NOTES.md).
    return _quorum(
        {
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": dlx,
            "x-dead-letter-routing-key": dead_key,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    )


def build_topology(namespace: str = "") -> Topology:
    """The topology of the deployment whose names start with ``namespace``."""

    def name(base: str) -> str:
        return f"{namespace}.{base}" if namespace else base

    exchange = ExchangeSpec(name("latex"), "topic")
    dlx = ExchangeSpec(name("latex.dlx"), "direct")
    compile_name, apply_name = name("latex.compile"), name("latex.apply")
    dlq_args = _quorum(
        {
            "x-max-length": DLQ_MAX_LENGTH,
            "x-message-ttl": DLQ_MAX_AGE_MS,
            "x-overflow": "drop-head",
        }
    )
    retry_queues = tuple(
        QueueSpec(
            name(f"latex.apply.retry.{attempt}"),
            # Messages carry their own (jittered) expiration; when it passes they go back to
            # the apply queue through the default exchange.
            _quorum(
                {
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": apply_name,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
            ),
        )
        for attempt in range(1, RETRY_TIERS + 1)
    )
    return Topology(
        namespace=namespace,
        exchange=exchange,
        dead_letter_exchange=dlx,
        compile_queue=QueueSpec(
            compile_name,
            _work_queue_args(dlx.name, compile_name, COMPILE_DELIVERY_LIMIT),
            (BindingSpec(exchange.name, COMPILE_REQUESTED_V1),),
        ),
        apply_queue=QueueSpec(
            apply_name,
            _work_queue_args(dlx.name, apply_name, APPLY_DELIVERY_LIMIT),
            (
                BindingSpec(exchange.name, COMPILE_COMPLETED_V1),
                BindingSpec(exchange.name, COMPILE_STARTED_V1),
            ),
        ),
        compile_dlq=QueueSpec(
            name("latex.compile.dlq"), dlq_args, (BindingSpec(dlx.name, compile_name),)
        ),
        apply_dlq=QueueSpec(
            name("latex.apply.dlq"), dlq_args, (BindingSpec(dlx.name, apply_name),)
        ),
        dead_jobs_queue=QueueSpec(
            name("latex.dead-jobs"),
            # A full queue refuses new notices (the dead-lettering waits, at least once)
            # rather than silently dropping old ones and leaving their jobs queued.
            _quorum(
                {
                    "x-message-ttl": DEAD_JOBS_MAX_AGE_MS,
                    "x-max-length": DLQ_MAX_LENGTH,
                    "x-overflow": "reject-publish",
                }
            ),
            (BindingSpec(dlx.name, compile_name), BindingSpec(dlx.name, apply_name)),
        ),
        retry_queues=retry_queues,
    )
