"""The host's side of the sandbox driver's protocol (see ``sandbox_driver``).

Everything the driver sends is checked before it is used: the sandbox runs what a document
made of it, so a reply may be forged. A reply that is not exactly the shape its request
calls for (a model below, strict, no other keys) is a SandboxError, like a driver that
stops answering: the compile ends as an outcome, the host never crashes on it.
"""

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.cgroups import JobCgroup, LimitHit
from texpipe_compiler.errors import SandboxError

READY_TIMEOUT_S = 10.0
MAX_LISTED_PATH_CHARS = 4096


class _Reply(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    size: int = Field(ge=0)


R = TypeVar("R", bound=_Reply)


class _Ready(_Reply):
    ready: Literal[True]


class _Ok(_Reply):
    ok: Literal[True]


class _Ran(_Reply):
    exit: int | None
    signal: int | None = Field(ge=1, le=128)
    truncated: bool


class _Read(_Reply):
    status: Literal["ok", "truncated", "missing", "not_regular", "too_large"]


class _Listed(_Reply):
    paths: list[str] = Field(max_length=1_000_000)
    truncated: bool


class _Failed(_Reply):
    error: str


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one program inside the sandbox ended."""

    exit_code: int | None
    signal: int | None
    output: bytes
    truncated: bool


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A file read out of the sandbox.

    ``status`` is ``ok`` or ``truncated`` (with data), ``missing``, ``not_regular`` or
    ``too_large``.
    """

    status: str
    data: bytes = b""


class SandboxSession:
    """The host's side of the driver protocol, over the driver's two pipes."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        group: JobCgroup | None = None,
    ) -> None:
        """``reader`` gets the driver's replies, ``writer`` carries the requests; ``group``
        is the sandbox's control group, if it has one."""
        self._reader, self._writer, self._group = reader, writer, group

    async def limit_hit(self) -> LimitHit | None:
        """The kernel limit of the job's control group it ran into so far, if any."""
        return await asyncio.to_thread(self._group.limit_hit) if self._group else None

    async def _call(
        self, header: Mapping[str, Any], shape: type[R], payload: bytes = b"", *, max_reply: int
    ) -> tuple[R, bytes]:
        self._writer.write(json.dumps({**header, "size": len(payload)}).encode() + b"\n")
        if payload:
            self._writer.write(payload)
        try:
            await self._writer.drain()
            return await self._receive(shape, max_reply)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            raise SandboxError(f"the sandbox driver stopped answering: {exc}") from exc

    async def _receive(self, shape: type[R], max_reply: int) -> tuple[R, bytes]:
        line = await self._reader.readline()
        if not line.endswith(b"\n"):
            raise SandboxError("the sandbox driver closed its output")
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise SandboxError(f"the sandbox driver sent a malformed reply: {exc}") from exc
        if isinstance(raw, dict) and "error" in raw:
            failed = _validate(_Failed, raw)
            raise SandboxError(f"sandbox driver: {failed.error[:500]}")
        reply = _validate(shape, raw)
        if reply.size > max_reply:
            raise SandboxError(f"the sandbox driver sent {reply.size} bytes, more than {max_reply}")
        data = await self._reader.readexactly(reply.size) if reply.size else b""
        return reply, data

    async def wait_ready(self) -> None:
        """The driver is up and has created the work directories."""
        async with asyncio.timeout(READY_TIMEOUT_S):
            await self._receive(_Ready, 0)

    async def put(self, files: Sequence[ProjectFile]) -> None:
        """Write the project's files into the sandbox's project directory."""
        listing = [[f.path, len(f.data)] for f in files]
        await self._call(
            {"op": "put", "files": listing}, _Ok, b"".join(f.data for f in files), max_reply=0
        )

    async def copytree(self, source: str, dest: str) -> None:
        """Copy a read-only tree mounted in the sandbox to ``dest`` (an absolute path in it)."""
        await self._call({"op": "copytree", "source": source, "dest": dest}, _Ok, max_reply=0)

    async def run(
        self, argv: Sequence[str], env: Mapping[str, str], *, output_cap: int, cwd: str = ""
    ) -> RunResult:
        """Run a program in ``cwd`` (a project folder, ``""`` for the root); its output is
        capped at ``output_cap``."""
        header = {"op": "run", "argv": list(argv), "env": dict(env), "output_cap": output_cap,
                  "cwd": cwd or "."}  # fmt: skip
        reply, data = await self._call(header, _Ran, max_reply=output_cap)
        return RunResult(reply.exit, reply.signal, data, reply.truncated)

    async def read(self, path: str, *, max_bytes: int, truncate: bool = False) -> ReadResult:
        """A regular file of the project (never through a link), if not over ``max_bytes``.

        With ``truncate`` a longer file gives its first ``max_bytes`` (status ``truncated``).
        """
        header = {"op": "read", "path": path, "max": max_bytes, "truncate": truncate}
        reply, data = await self._call(header, _Read, max_reply=max_bytes)
        if data and reply.status not in {"ok", "truncated"}:
            raise SandboxError(f"the sandbox driver sent data with status {reply.status}")
        return ReadResult(reply.status, data)

    async def list(self, suffixes: Sequence[str], *, max_files: int) -> list[str]:
        """Project-relative paths of regular files ending with one of ``suffixes``."""
        reply, _ = await self._call(
            {"op": "list", "suffixes": list(suffixes), "max": max_files}, _Listed, max_reply=0
        )
        if len(reply.paths) > max_files or any(len(p) > MAX_LISTED_PATH_CHARS for p in reply.paths):
            raise SandboxError("the sandbox driver listed more or longer paths than asked for")
        return list(reply.paths)


def _validate(shape: type[R], raw: object) -> R:
    try:
        return shape.model_validate(raw)
    except ValidationError as exc:
        raise SandboxError(f"the sandbox driver sent a malformed reply: {exc}") from exc
