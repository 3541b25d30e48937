"""Write (or check) ``infra/rabbitmq/definitions.json`` from the contracts' topology.

The broker's definitions are derived, never hand-edited: ``build_topology()`` is the one source
of queue names, arguments and bindings, and the services declare exactly that at start-up. The
file lets an operator (or RabbitMQ at boot, through ``load_definitions``) create the same
topology before any service runs, and carries the policies operators may tighten at run time.

Usage::

    python infra/rabbitmq/gen_definitions.py            # rewrite definitions.json
    python infra/rabbitmq/gen_definitions.py --check    # exit 1 when the file is stale
    python infra/rabbitmq/gen_definitions.py --namespace staging -o /tmp/staging.json
    python infra/rabbitmq/gen_definitions.py -o deploy/kubernetes/base/rabbitmq/definitions.json
                                                          # the copy Kubernetes' kustomize reads

The file holds no users and no secrets: credentials come from the environment of each
deployment (compose/rabbitmq/ adds a development user for the dev stack only).
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from texpipe_contracts.topology import QueueSpec, Topology, build_topology

VHOST = "/"
DEFAULT_OUTPUT = Path(__file__).with_name("definitions.json")

# Queue arguments an operator may restate (and only tighten) through a policy. RabbitMQ applies
# the lower of argument and policy for these keys, so a policy can never loosen the contract.
_POLICY_KEYS = {
    "x-delivery-limit": "delivery-limit",
    "x-max-length": "max-length",
    "x-message-ttl": "message-ttl",
}


def _exchange(name: str, kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": VHOST,
        "type": kind,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _queue(spec: QueueSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "vhost": VHOST,
        "durable": True,
        "auto_delete": False,
        "arguments": dict(sorted(spec.arguments.items())),
    }


def _policy(name: str, queues: list[QueueSpec], priority: int) -> dict[str, Any]:
    """One policy over ``queues``, which must share the values of the tunable arguments."""
    values = [
        {_POLICY_KEYS[k]: v for k, v in q.arguments.items() if k in _POLICY_KEYS} for q in queues
    ]
    if any(v != values[0] for v in values):
        raise ValueError(f"policy {name}: queues disagree on tunable arguments: {values}")
    pattern = "^(" + "|".join(re.escape(q.name) for q in queues) + ")$"
    return {
        "vhost": VHOST,
        "name": name,
        "pattern": pattern,
        "apply-to": "queues",
        "priority": priority,
        "definition": dict(sorted(values[0].items())),
    }


def build_definitions(topology: Topology) -> dict[str, Any]:
    """The definitions document (RabbitMQ's import format) for ``topology``."""
    prefix = f"{topology.namespace}-" if topology.namespace else ""
    bindings = [
        {
            "source": b.exchange,
            "vhost": VHOST,
            "destination": q.name,
            "destination_type": "queue",
            "routing_key": b.routing_key,
            "arguments": {},
        }
        for q in topology.queues
        for b in q.bindings
    ]
    policies = [
        _policy(f"{prefix}texpipe-compile", [topology.compile_queue], 10),
        _policy(f"{prefix}texpipe-apply", [topology.apply_queue], 10),
        _policy(f"{prefix}texpipe-dead-letters", list(topology.dead_letter_queues), 10),
        _policy(f"{prefix}texpipe-dead-jobs", [topology.dead_jobs_queue], 10),
    ]
    return {
        "vhosts": [{"name": VHOST}],
        "exchanges": [_exchange(e.name, e.type) for e in topology.exchanges],
        "queues": [_queue(q) for q in topology.queues],
        "bindings": bindings,
        "policies": policies,
    }


def render(topology: Topology) -> str:
    """The file's exact text: stable key order, two-space indent, trailing newline."""
    return json.dumps(build_definitions(topology), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="", help="TEXPIPE_NAMESPACE of the deployment")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render(build_topology(args.namespace))
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            where = "" if args.output == DEFAULT_OUTPUT else f" -o {args.output}"
            print(
                f"{args.output} does not match texpipe_contracts.topology; "
                f"run: .venv/bin/python infra/rabbitmq/gen_definitions.py{where}",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output}: matches the contracts' topology")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
