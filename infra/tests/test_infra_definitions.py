"""infra/rabbitmq/definitions.json agrees with texpipe_contracts.topology.build_topology().

The comparison is written out here rather than reusing the generator's code, so a bug in the
generator cannot hide itself; the last test also proves the committed file is what the generator
writes today.
"""

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from texpipe_contracts.topology import Topology, build_topology

RABBIT_DIR = Path(__file__).resolve().parents[1] / "rabbitmq"
DEFINITIONS = RABBIT_DIR / "definitions.json"
POLICY_TO_ARGUMENT = {
    "delivery-limit": "x-delivery-limit",
    "max-length": "x-max-length",
    "message-ttl": "x-message-ttl",
}


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFINITIONS.read_text())
    return data


@pytest.fixture(scope="module")
def topology() -> Topology:
    return build_topology("")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_definitions", RABBIT_DIR / "gen_definitions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_queues_and_their_arguments_match(definitions: dict[str, Any], topology: Topology) -> None:
    in_file = {q["name"]: q for q in definitions["queues"]}
    assert set(in_file) == {q.name for q in topology.queues}
    for spec in topology.queues:
        queue = in_file[spec.name]
        assert queue["arguments"] == spec.arguments, spec.name
        assert queue["durable"] is True
        assert queue["auto_delete"] is False
        assert queue["vhost"] == "/"


def test_every_queue_is_quorum_and_work_queues_dead_letter_at_least_once(
    definitions: dict[str, Any], topology: Topology
) -> None:
    args = {q["name"]: q["arguments"] for q in definitions["queues"]}
    assert all(a["x-queue-type"] == "quorum" for a in args.values())
    for work in (topology.compile_queue, topology.apply_queue):
        a = args[work.name]
        assert a["x-dead-letter-strategy"] == "at-least-once"
        # RabbitMQ ignores at-least-once dead-lettering unless overflow is reject-publish.
        assert a["x-overflow"] == "reject-publish"
        assert a["x-dead-letter-exchange"] == topology.dead_letter_exchange.name
        assert a["x-delivery-limit"] >= 1


def test_exchanges_match(definitions: dict[str, Any], topology: Topology) -> None:
    in_file = {(e["name"], e["type"], e["durable"]) for e in definitions["exchanges"]}
    assert in_file == {(e.name, e.type, True) for e in topology.exchanges}


def test_bindings_match(definitions: dict[str, Any], topology: Topology) -> None:
    in_file = [
        (b["source"], b["destination"], b["destination_type"], b["routing_key"])
        for b in definitions["bindings"]
    ]
    expected = [
        (b.exchange, q.name, "queue", b.routing_key) for q in topology.queues for b in q.bindings
    ]
    assert sorted(in_file) == sorted(expected)
    assert len(set(in_file)) == len(in_file)


def test_dead_letter_targets_exist(definitions: dict[str, Any]) -> None:
    exchanges = {e["name"] for e in definitions["exchanges"]} | {""}
    queues = {q["name"] for q in definitions["queues"]}
    routes = {(b["source"], b["routing_key"]) for b in definitions["bindings"]}
    for q in definitions["queues"]:
        dlx = q["arguments"].get("x-dead-letter-exchange")
        if dlx is None:
            continue
        assert dlx in exchanges, q["name"]
        key = q["arguments"]["x-dead-letter-routing-key"]
        # The default exchange routes by queue name; a named one needs a binding.
        assert (key in queues) if dlx == "" else ((dlx, key) in routes), q["name"]


def test_policies_restate_the_contract_and_never_overlap(definitions: dict[str, Any]) -> None:
    queues = {q["name"]: q["arguments"] for q in definitions["queues"]}
    matched_by: dict[str, list[str]] = {}
    for policy in definitions["policies"]:
        assert policy["apply-to"] == "queues"
        hits = [n for n in queues if re.fullmatch(policy["pattern"], n)]
        assert hits, f"policy {policy['name']} matches no queue"
        for name in hits:
            matched_by.setdefault(name, []).append(policy["name"])
            for key, value in policy["definition"].items():
                assert queues[name][POLICY_TO_ARGUMENT[key]] == value, (policy["name"], name)
    # RabbitMQ applies one policy per queue; two matching would make the choice by priority.
    assert all(len(p) == 1 for p in matched_by.values()), matched_by


def test_no_credentials_in_the_file(definitions: dict[str, Any]) -> None:
    assert "users" not in definitions
    assert "password" not in DEFINITIONS.read_text()


def test_committed_file_is_what_the_generator_writes(topology: Topology) -> None:
    assert DEFINITIONS.read_text() == _generator().render(topology)


def test_a_namespace_prefixes_every_name() -> None:
    doc = _generator().build_definitions(build_topology("staging"))
    names = [q["name"] for q in doc["queues"]] + [e["name"] for e in doc["exchanges"]]
    assert all(n.startswith("staging.") for n in names)
    assert all(p["name"].startswith("staging-") for p in doc["policies"])
