"""`texpipe-applier [run]` runs the service; `texpipe-applier dlq list|replay` is for operators."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from aio_pika.exceptions import AMQPError
from aiormq.exceptions import ChannelNotFoundEntity
from faststream import FastStream
from texpipe_servicekit.logs import configure_logging

from texpipe_applier import dlq
from texpipe_applier.app import create_app
from texpipe_applier.config import BrokerSettings, Settings
from texpipe_applier.errors import DlqMessageNotFoundError

SERVICE = "applier"


def build_app() -> FastStream:
    """The app from the environment (``faststream docs gen --factory`` uses this too)."""
    return create_app(Settings())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="texpipe-applier", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume results and dead letters (the default)")
    dlq_parser = commands.add_parser("dlq", help="list or replay dead letters")
    dlq_commands = dlq_parser.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", help="show dead letters of both DLQs, consuming none")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=dlq.DEFAULT_LIST_LIMIT, help="per queue")
    replaying = dlq_commands.add_parser("replay", help="send dead letters back to their queue")
    target = replaying.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="the id 'dlq list' shows")
    target.add_argument("--all", action="store_true", help="every dead letter of both DLQs")
    return parser


def _print_entries(entries: Sequence[dlq.DlqEntry], as_json: bool) -> None:
    if as_json:
        for entry in entries:
            row = asdict(entry) | {"dead_at": entry.dead_at.isoformat() if entry.dead_at else None}
            print(json.dumps(row, sort_keys=True))
        return
    print(f"{'ID':<38} {'QUEUE':<24} {'JOB':<36} {'TRIES':>5} {'WHEN':<25} REASON")
    for entry in entries:
        when = entry.dead_at.isoformat(timespec="seconds") if entry.dead_at else "-"
        print(
            f"{entry.id:<38} {entry.queue:<24} {entry.job_id:<36} {entry.attempts:>5} "
            f"{when:<25} [{entry.code}] {entry.reason}"
        )
    print(f"{len(entries)} dead letter(s)", file=sys.stderr)


def _dlq(args: argparse.Namespace) -> int:
    settings = BrokerSettings()
    configure_logging(settings, SERVICE)
    url, topo = settings.amqp_url.get_secret_value(), settings.topology()
    try:
        if args.dlq_command == "list":
            _print_entries(asyncio.run(dlq.list_dead_letters(url, topo, args.limit)), args.json)
            return 0
        replayed = asyncio.run(dlq.replay(url, topo, None if args.all else args.id))
    except DlqMessageNotFoundError as exc:
        print(f"texpipe-applier: {exc}", file=sys.stderr)
        return 1
    except ChannelNotFoundEntity as exc:
        print(f"texpipe-applier: {exc} (is TEXPIPE_NAMESPACE right?)", file=sys.stderr)
        return 2
    except (AMQPError, OSError) as exc:
        print(f"texpipe-applier: cannot reach the broker: {exc!r}", file=sys.stderr)
        return 2
    for entry in replayed:
        print(f"replayed {entry.id} from {entry.queue} (job {entry.job_id})")
    print(f"{len(replayed)} dead letter(s) replayed", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``texpipe-applier`` command."""
    args = _parser().parse_args(argv)
    if args.command == "dlq":
        return _dlq(args)
    settings = Settings()
    configure_logging(settings, SERVICE)
    asyncio.run(create_app(settings).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
