"""The host's side of the sandbox driver's protocol (see ``sandbox_driver``)."""

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.errors import SandboxError

READY_TIMEOUT_S = 10.0


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
    """The host's side of the driver protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        """``process`` runs the driver, its stdin and stdout are pipes."""
        self._process = process
        assert process.stdin is not None
        assert process.stdout is not None
        self._stdin, self._stdout = process.stdin, process.stdout

    async def _call(
        self, header: Mapping[str, Any], payload: bytes = b"", *, max_reply: int
    ) -> tuple[dict[str, Any], bytes]:
        self._stdin.write(json.dumps({**header, "size": len(payload)}).encode() + b"\n")
        if payload:
            self._stdin.write(payload)
        try:
            await self._stdin.drain()
            return await self._receive(max_reply)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            raise SandboxError(f"the sandbox driver stopped answering: {exc}") from exc

    async def _receive(self, max_reply: int) -> tuple[dict[str, Any], bytes]:
        line = await self._stdout.readline()
        if not line.endswith(b"\n"):
            raise SandboxError("the sandbox driver closed its output")
        reply: dict[str, Any] = json.loads(line)
        size = int(reply.get("size", 0))
        if size > max_reply:
            raise SandboxError(f"the sandbox driver sent {size} bytes, more than {max_reply}")
        data = await self._stdout.readexactly(size) if size else b""
        if "error" in reply:
            raise SandboxError(f"sandbox driver: {reply['error']}")
        return reply, data

    async def wait_ready(self) -> None:
        """The driver is up and has created the work directories."""
        async with asyncio.timeout(READY_TIMEOUT_S):
            await self._receive(0)

    async def put(self, files: Sequence[ProjectFile]) -> None:
        """Write the project's files into the sandbox's project directory."""
        listing = [[f.path, len(f.data)] for f in files]
        await self._call(
            {"op": "put", "files": listing}, b"".join(f.data for f in files), max_reply=0
        )

    async def copytree(self, source: str, dest: str) -> None:
        """Copy a read-only tree mounted in the sandbox to ``dest`` (an absolute path in it)."""
        await self._call({"op": "copytree", "source": source, "dest": dest}, max_reply=0)

    async def run(
        self, argv: Sequence[str], env: Mapping[str, str], *, output_cap: int, cwd: str = ""
    ) -> RunResult:
        """Run a program in ``cwd`` (a project folder, ``""`` for the root); its output is
        capped at ``output_cap``."""
        header = {"op": "run", "argv": list(argv), "env": dict(env), "output_cap": output_cap,
                  "cwd": cwd or "."}  # fmt: skip
        reply, data = await self._call(header, max_reply=output_cap)
        return RunResult(reply.get("exit"), reply.get("signal"), data, bool(reply.get("truncated")))

    async def read(self, path: str, *, max_bytes: int, truncate: bool = False) -> ReadResult:
        """A regular file of the project (never through a link), if not over ``max_bytes``.

        With ``truncate`` a longer file gives its first ``max_bytes`` (status ``truncated``).
        """
        header = {"op": "read", "path": path, "max": max_bytes, "truncate": truncate}
        reply, data = await self._call(header, max_reply=max_bytes)
        return ReadResult(str(reply["status"]), data)

    async def list(self, suffixes: Sequence[str], *, max_files: int) -> list[str]:
        """Project-relative paths of regular files ending with one of ``suffixes``."""
        reply, _ = await self._call(
            {"op": "list", "suffixes": list(suffixes), "max": max_files}, max_reply=0
        )
        return [str(p) for p in reply["paths"]]
