"""Command line parsing and the one place where errors become exit codes."""

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from texpipe_cli import __version__, commands
from texpipe_cli.config import load_config
from texpipe_cli.errors import CliError, Exit

EPILOG = """\
environment:
  TEXPIPE_API_URL   the api (default http://127.0.0.1:8080)
  TEXPIPE_TOKEN     a tenant token
  Either may instead be a KEY=VALUE line in .texpipe/env, in the current folder or a
  parent (`make up` writes one); the environment wins.

exit codes:
  0  success (for status: applied, or not finished yet)
  1  the LaTeX did not compile: failed, timed_out or rejected
  2  usage error: bad arguments or local files, or the api refused the request (4xx)
  3  service trouble: api unreachable, 5xx, job dead or cancelled, wait timed out
  4  a newer revision of the document took over: job stale or superseded
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``texpipe`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="texpipe",
        description="Compile LaTeX documents with a texpipe service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    comp = sub.add_parser(
        "compile",
        help="send a .tex file or a folder and compile it",
        description="Send PATH (a .tex file, or a folder: every file under it except hidden "
        "ones) as a new document, or as a new revision of the document it became last time "
        "(remembered in .texpipe/), and compile it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    comp.add_argument("path", type=Path, metavar="PATH")
    comp.add_argument(
        "--engine",
        help="pdflatex, xelatex, lualatex or tectonic "
        "(default: the main file's '%% !TEX program' line, else pdflatex)",
    )
    comp.add_argument(
        "--main",
        metavar="FILE",
        help="the main file of a folder (default main.tex, else the only "
        "top-level .tex file with \\documentclass)",
    )
    comp.add_argument(
        "--wait", action="store_true", help="wait for the result, show progress, and write the PDF"
    )
    comp.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PDF",
        help="where to write the PDF (implies --wait; default <name>.pdf beside PATH)",
    )
    comp.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out matching files or folders (repeatable)",
    )
    comp.add_argument(
        "--force",
        action="store_true",
        help="replace the document even if someone else changed it since",
    )
    _timeout(comp)

    status = sub.add_parser(
        "status",
        help="show a job's state",
        description="Show a job's state (JOB is a job id, or a file or "
        "folder compiled before: its last job).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("job", metavar="JOB")
    status.add_argument("--wait", action="store_true", help="wait until the job is final")
    _timeout(status)

    log = sub.add_parser("log", help="print a job's compile log")
    log.add_argument("job", metavar="JOB", help="a job id, or a file or folder compiled before")

    open_ = sub.add_parser("open", help="print the URL of a document's PDF")
    open_.add_argument(
        "document", metavar="DOC", help="a document id, or a file or folder compiled before"
    )

    watch = sub.add_parser(
        "watch",
        help="print a document's events as they happen",
        description="Print the document's events (new revisions, each job's states: queued, "
        "applied, failed with its first error, stale, cancelled, ...), one line each, from "
        "the first one the api keeps, then live until interrupted. A dropped connection is "
        "resumed after the last event printed, so none is lost or printed twice.",
    )
    watch.add_argument(
        "document", metavar="DOC", help="a document id, or a file or folder compiled before"
    )
    watch.add_argument(
        "--after", type=int, metavar="ID", help="start after this event id (the [ID] printed)"
    )

    cancel = sub.add_parser("cancel", help="cancel a queued or compiling job")
    cancel.add_argument("job", metavar="JOB", help="a job id, or a file or folder compiled before")
    return parser


def _timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="give up waiting after this long (default 600; the job goes on)",
    )


async def _run(args: argparse.Namespace, console: commands.Console) -> Exit:
    config = load_config(os.environ, Path.cwd())
    if args.command == "compile":
        opts = commands.CompileOptions(
            path=args.path,
            engine=args.engine,
            main=args.main,
            wait=args.wait,
            output=args.output,
            exclude=tuple(args.exclude),
            force=args.force,
            timeout_s=args.timeout,
        )
        return await commands.compile_command(config, opts, console)
    if args.command == "status":
        return await commands.status_command(
            config, args.job, console, wait=args.wait, timeout_s=args.timeout
        )
    if args.command == "log":
        return await commands.log_command(config, args.job, console)
    if args.command == "watch":
        return await commands.watch_command(config, args.document, console, after=args.after)
    if args.command == "cancel":
        return await commands.cancel_command(config, args.job, console)
    return await commands.open_command(config, args.document, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see EPILOG)."""
    args = build_parser().parse_args(argv)
    console = commands.Console(
        out=sys.stdout, err=sys.stderr, out_bytes=getattr(sys.stdout, "buffer", None)
    )
    try:
        return int(asyncio.run(_run(args, console)))
    except CliError as exc:
        console.info(f"texpipe: {exc}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.info("texpipe: interrupted (a job already submitted goes on)")
        return int(Exit.INTERRUPTED)
