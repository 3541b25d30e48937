"""Putting a result back on the broker: into a retry queue, or into the dead-letter queue.

Every publish waits for the broker's confirm (the kit's broker edge); one that fails is the
broker's outage (:class:`~texpipe_servicekit.gate.OutageError`), so the message is held and
tried again once the broker answers.
"""

from collections.abc import Awaitable

from faststream.rabbit import RabbitBroker
from texpipe_contracts import topology
from texpipe_contracts.topology import Topology
from texpipe_servicekit.gate import OutageError
from texpipe_servicekit.rabbit import dead_letter, publish_confirmed

from texpipe_applier.received import Received

BROKER = "broker"
"""The dependency name of the broker in the applier's gate."""


async def _confirmed(publish: Awaitable[None]) -> None:
    try:
        await publish
    except Exception as exc:
        raise OutageError(BROKER, f"{type(exc).__name__}: {exc}"[:500]) from exc


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
        await _confirmed(
            publish_confirmed(
                self._broker,
                message.body,
                queue=self._topo.retry_queue(attempt).name,
                headers=message.republish_headers(**{topology.HEADER_ATTEMPT: attempt}),
                expiration=delay_s,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
            )
        )

    async def dead_letter(
        self, message: Received, *, reason: str, code: str, attempts: int
    ) -> None:
        """Dead-letter ``message`` with its reason (to the apply DLQ and ``latex.dead-jobs``)."""
        await _confirmed(
            dead_letter(
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
        )
