"""The topology as data: names, namespaces and the arguments DESIGN.md asks for."""

from texpipe_contracts.topology import (
    COMPILE_COMPLETED_V1,
    COMPILE_REQUESTED_V1,
    RETRY_TIERS,
    build_topology,
)


def test_default_names_are_the_designs() -> None:
    topo = build_topology()
    assert topo.exchange.name == "latex"
    assert topo.compile_queue.name == "latex.compile"
    assert topo.apply_queue.name == "latex.apply"
    assert topo.compile_queue.bindings[0].routing_key == COMPILE_REQUESTED_V1
    assert topo.apply_queue.bindings[0].routing_key == COMPILE_COMPLETED_V1


def test_a_namespace_prefixes_every_name() -> None:
    topo = build_topology("t1")
    names = [q.name for q in topo.queues] + [e.name for e in topo.exchanges]
    assert all(name.startswith("t1.") for name in names)
    for queue in topo.queues:
        for binding in queue.bindings:
            assert binding.exchange.startswith("t1.")
        target = queue.arguments.get("x-dead-letter-routing-key")
        if target is not None:
            assert str(target).startswith("t1.")


def test_work_queues_are_quorum_with_limits_and_safe_dead_lettering() -> None:
    topo = build_topology()
    for queue in (topo.compile_queue, topo.apply_queue):
        args = queue.arguments
        assert args["x-queue-type"] == "quorum"
        assert int(args["x-delivery-limit"]) >= 1
        assert args["x-dead-letter-exchange"] == topo.dead_letter_exchange.name
        assert args["x-dead-letter-strategy"] == "at-least-once"
        assert args["x-overflow"] == "reject-publish"  # required by at-least-once


def test_each_work_queue_has_a_bounded_dead_letter_queue() -> None:
    topo = build_topology()
    assert topo.work_queue_for_dlq(topo.compile_dlq.name) == topo.compile_queue
    assert topo.work_queue_for_dlq(topo.apply_dlq.name) == topo.apply_queue
    for dlq in topo.dead_letter_queues:
        assert "x-max-length" in dlq.arguments
        assert "x-message-ttl" in dlq.arguments


def test_retry_queues_return_to_the_apply_queue() -> None:
    topo = build_topology()
    assert len(topo.retry_queues) == RETRY_TIERS
    for queue in topo.retry_queues:
        assert queue.arguments["x-dead-letter-exchange"] == ""
        assert queue.arguments["x-dead-letter-routing-key"] == topo.apply_queue.name
    assert topo.retry_queue(1) is topo.retry_queues[0]
    assert topo.retry_queue(99) is topo.retry_queues[-1]
