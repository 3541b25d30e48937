"""Generate the committed JSON Schemas and the AsyncAPI document from the models.

``python -m texpipe_contracts.schema_gen [--check] DIR`` writes (or, with ``--check``,
compares) ``DIR/schemas/*.json`` and ``DIR/asyncapi.json``. Besides one schema per message,
``schemas/job.state.json`` is the enum of job states (what the api's job answers carry).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from texpipe_contracts import topology
from texpipe_contracts.jobs import JobState
from texpipe_contracts.v1 import (
    CompileCancelRequested,
    CompileCompleted,
    CompileRequested,
    CompileStarted,
    PdfApplied,
)

MESSAGES: dict[str, tuple[type[BaseModel], str, str]] = {
    "latex.compile.requested.v1": (
        CompileRequested,
        topology.COMPILE_REQUESTED_V1,
        "The api asks the compiler fleet to compile one revision of one document.",
    ),
    "latex.compile.completed.v1": (
        CompileCompleted,
        topology.COMPILE_COMPLETED_V1,
        "A compiler reports how a compile ended; the applier delivers it to the api.",
    ),
    "latex.compile.started.v1": (
        CompileStarted,
        topology.COMPILE_STARTED_V1,
        "A compiler began a sandboxed compile (best effort, never for a cache hit); the applier"
        " tells the api, whose document events then show the job 'compiling'.",
    ),
    "latex.compile.cancel_requested.v1": (
        CompileCancelRequested,
        topology.COMPILE_CANCEL_REQUESTED_V1,
        "The api cancelled a job: every compiler kills its compile, or skips its request later"
        " (each compiler process binds an exclusive, auto-delete queue of its own).",
    ),
    "document.pdf_applied.v1": (
        PdfApplied,
        topology.PDF_APPLIED_V1,
        "A document's PDF changed: once per applied PDF, from the api's outbox. For the"
        " platform's services, each binding a queue of its own; repeats share a message_id.",
    ),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per message, keyed by ``<schema name>.v<major>``."""
    return {name: model.model_json_schema() for name, (model, _, _) in MESSAGES.items()}


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document describing the exchange, its channels and messages."""
    topo = topology.build_topology()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, (model, routing_key, summary) in MESSAGES.items():
        msg_id = name.replace(".", "_")
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[model.__name__] = schema
        messages[msg_id] = {
            "name": name,
            "title": model.__name__,
            "summary": summary,
            "contentType": "application/json",
            "correlationId": {
                "description": "The job id.",
                "location": "$message.header#/correlation_id",
            },
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
        channels[msg_id] = {
            "address": routing_key,
            "messages": {msg_id: {"$ref": f"#/components/messages/{msg_id}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": topo.exchange.name, "type": "topic", "durable": True},
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"publish_{msg_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{msg_id}"},
            "summary": summary,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "texpipe messages",
            "version": "1.0.0",
            "description": "Compile requests, starts, results, cancels and applied PDFs on the"
            " 'latex' topic exchange.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def rendered_files() -> dict[str, str]:
    """Relative path -> file content, exactly as committed."""
    files = {
        f"schemas/{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    job_state = TypeAdapter(JobState).json_schema()
    files["schemas/job.state.json"] = json.dumps(job_state, indent=2, sort_keys=True) + "\n"
    files["asyncapi.json"] = json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    """Write or check the generated files under the given directory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for relative, content in rendered_files().items():
        path = args.directory / relative
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(relative)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if stale:
        print(f"out of date (run 'make contracts'): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
