"""Putting a result back on the broker: into a retry queue, or into the dead-letter queue."""

from typing import cast

from aio_pika.abc import HeadersType
from faststream.rabbit import RabbitBroker
from texpipe_contracts import topology
from texpipe_contracts.topology import Topology
from texpipe_servicekit.rabbit import dead_letter, is_confirmed

from texpipe_applier.errors import NotConfirmedError
from texpipe_applier.received import Received

CONTENT_TYPE = "application/json"


class RabbitRedelivery:
    """Republishes results; every publish waits for the broker's confirm before returning."""

    def __init__(self, broker: RabbitBroker, topo: Topology) -> None:
        self._broker = broker
        self._topo = topo

    async def schedule_retry(self, message: Received, attempt: int, delay_s: float) -> None:
        """Park ``message`` in the retry queue for ``attempt`` for ``delay_s`` seconds.

        The retry queue dead-letters expired messages back into the apply queue; the attempt
        number travels in a header we set, so counting does not depend on the broker version.
        """
        headers = message.republish_headers(**{topology.HEADER_ATTEMPT: attempt})
        await self._publish_to_queue(
            message, self._topo.retry_queue(attempt).name, headers, expiration=delay_s
        )

    async def requeue_notice(self, message: Received, source_queue: str) -> None:
        """Put a dead-jobs notice back at the tail of its queue, to be tried again.

        A fresh publish rather than a nack: quorum queues of some broker versions count
        nack-requeues toward a delivery limit (4.x has a default of 20) and would drop it. The
        headers, x-death included, are kept whole: they are what the notice is read from.
        """
        headers = {**message.headers, topology.HEADER_SOURCE_QUEUE: source_queue}
        await self._publish_to_queue(message, self._topo.dead_jobs_queue.name, headers)

    async def _publish_to_queue(
        self,
        message: Received,
        queue: str,
        headers: dict[str, object],
        *,
        expiration: float | None = None,
    ) -> None:
        """Republish ``message`` into ``queue`` (the default exchange routes by queue name),
        persistent, and raise unless the broker confirms it."""
        frame = await self._broker.publish(
            message.body,
            queue=queue,
            headers=cast("HeadersType", headers),
            expiration=expiration,
            persist=True,
            mandatory=True,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=CONTENT_TYPE,
        )
        if not is_confirmed(frame):
            raise NotConfirmedError(f"publish to {queue} was not confirmed: {frame!r}")

    async def dead_letter(
        self, message: Received, *, reason: str, code: str, attempts: int
    ) -> None:
        """Dead-letter ``message`` with its reason (to the apply DLQ and ``latex.dead-jobs``)."""
        await dead_letter(
            self._broker,
            self._topo,
            body=message.body,
            headers=message.republish_headers(),
            source_queue=self._topo.apply_queue,
            reason=reason,
            code=code,
            attempts=attempts,
            correlation_id=message.correlation_id,
            message_id=message.message_id,
        )
