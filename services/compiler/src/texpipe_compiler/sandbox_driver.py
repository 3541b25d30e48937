"""The driver that runs inside the sandbox (standard library only; run as ``python3 -I -S``).

The host talks to it over two pipes (their fd numbers are the first two arguments) with
framed messages: a JSON header line, then as many raw bytes as the header's ``size``. The
sandbox has no /proc: nothing here may rely on it (subprocess closes fds with
close_range(2)). It writes the project into the tmpfs, runs the TeX
programs the host asks for (stdin from /dev/null, output drained and capped), lists and
reads files without following links. It decides nothing: every policy lives on the host.
This file is never imported by the service; its source is handed to the sandbox's Python.
"""

# ruff: noqa: PTH103, PTH118, PTH123
# (os-level calls on purpose: fds, O_NOFOLLOW and dir_fd are the point of this file)

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import stat
import subprocess
import sys
from typing import Any, BinaryIO

PR_SET_DUMPABLE = 4
CHUNK = 65536
MAX_LIST_DEPTH = 16
MAX_LIST_ENTRIES = 100_000
Reply = tuple[dict[str, Any], bytes]


def _no_dumping() -> None:
    # Processes of the same uid could otherwise open /proc/<driver>/fd and forge replies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = stream.read(min(size, CHUNK))
        if not chunk:
            raise EOFError("host closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _reply(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps({**header, "size": len(payload)}).encode() + b"\n")
    out.write(payload)
    out.flush()


def _parts(path: str) -> list[str]:
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad path {path!r}")
    return parts


def _open_dir(root: str, parts: list[str], *, create: bool) -> int:
    """An fd of root/parts..., never following a link (the project may have made one)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def op_put(root: str, header: dict[str, Any], payload: bytes) -> Reply:
    offset = 0
    for path, size in header["files"]:
        parts = _parts(path)
        dir_fd = _open_dir(root, parts[:-1], create=True)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(parts[-1], flags, 0o644, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload[offset : offset + size])
        offset += size
    return {"ok": True}, b""


def op_run(root: str, header: dict[str, Any], host: BinaryIO) -> Reply:
    cap = int(header["output_cap"])
    folder = header.get("cwd", ".")
    # The working folder is reached without following a link (a pass may have swapped the
    # main file's folder for one): the driver is single-threaded, so it changes its own
    # working directory through a descriptor for the child to inherit, then goes back.
    try:
        folder_fd = _open_dir(root, [] if folder == "." else _parts(folder), create=False)
    except OSError:
        return {
            "exit": 1,
            "signal": None,
            "truncated": False,
        }, b"texpipe: the main file's folder is gone or is a link\n"
    try:
        os.fchdir(folder_fd)
        proc = subprocess.Popen(
            header["argv"],
            env=header["env"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )
    finally:
        os.chdir(root)
        os.close(folder_fd)
    assert proc.stdout is not None
    kept, truncated = bytearray(), False
    # Drain everything (a full pipe would block the program), keep the first ``cap`` bytes.
    # The host never writes while a program runs: its pipe readable means the host is gone
    # (EOF), and then the driver exits; the host kills the sandbox's pid 1 in any case.
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "output")
        selector.register(host, selectors.EVENT_READ, "host")
        while True:
            events = selector.select()
            if any(key.data == "host" for key, _ in events):
                os._exit(3)
            chunk = os.read(proc.stdout.fileno(), CHUNK)
            if not chunk:
                break
            room = cap - len(kept)
            if room > 0:
                kept += chunk[:room]
            truncated = truncated or len(chunk) > room
    code = proc.wait()
    result = {"exit": code, "signal": None} if code >= 0 else {"exit": None, "signal": -code}
    return {**result, "truncated": truncated}, bytes(kept)


def op_read(root: str, header: dict[str, Any]) -> Reply:
    """A regular file's bytes, opened without following links, at most ``max`` of them."""
    parts = _parts(header["path"])
    try:
        dir_fd = _open_dir(root, parts[:-1], create=False)
    except FileNotFoundError:
        return {"status": "missing"}, b""
    except (OSError, ValueError):
        return {"status": "not_regular"}, b""
    try:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return {"status": "missing"}, b""
    except OSError:
        return {"status": "not_regular"}, b""
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {"status": "not_regular"}, b""
        limit = int(header["max"])
        data = handle.read(limit + 1)
    if len(data) > limit:
        # A log may be cut (its head holds the first error); a PDF may not.
        if header.get("truncate"):
            return {"status": "truncated"}, data[:limit]
        return {"status": "too_large"}, b""
    return {"status": "ok"}, data


def op_list(root: str, header: dict[str, Any]) -> Reply:
    """Relative paths of regular files under root that end with one of the suffixes.

    Iterative and bounded (depth, entries seen): a document may have made a huge tree.
    """
    suffixes, limit = tuple(header["suffixes"]), int(header["max"])
    found: list[str] = []
    pending, seen = [(root, 0)], 0
    while pending:
        directory, depth = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_LIST_ENTRIES:
                return {"paths": found, "truncated": True}, b""
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_LIST_DEPTH:
                    pending.append((entry.path, depth + 1))
            elif entry.is_file(follow_symlinks=False) and entry.name.endswith(suffixes):
                found.append(os.path.relpath(entry.path, root))
                if len(found) >= limit:
                    return {"paths": sorted(found), "truncated": True}, b""
    return {"paths": sorted(found), "truncated": False}, b""


def op_copytree(root: str, header: dict[str, Any]) -> Reply:
    """Copy a read-only tree the host prepared (a font cache) to an absolute ``dest``."""
    source, dest = header["source"], header["dest"]
    for dirpath, _dirnames, filenames in os.walk(source, followlinks=False):
        target = os.path.join(dest, os.path.relpath(dirpath, source))
        os.makedirs(target, exist_ok=True)
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as src:
                data = src.read()
            with open(os.path.join(target, name), "wb") as dst:
                dst.write(data)
    return {"ok": True}, b""


def _dispatch(root: str, header: dict[str, Any], payload: bytes, host: BinaryIO) -> Reply:
    op = header["op"]
    if op == "put":
        return op_put(root, header, payload)
    if op == "run":
        return op_run(root, header, host)
    if op == "read":
        return op_read(root, header)
    if op == "list":
        return op_list(root, header)
    if op == "copytree":
        return op_copytree(root, header)
    return {"error": f"unknown op {op!r}"}, b""


def main() -> int:
    _no_dumping()
    inp, out = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")
    root = sys.argv[3]
    for directory in sys.argv[4:]:
        os.makedirs(directory, exist_ok=True)
    _reply(out, {"ready": True})
    while line := inp.readline():
        header = json.loads(line)
        payload = _read_exact(inp, int(header.get("size", 0)))
        if header["op"] == "exit":
            _reply(out, {"ok": True})
            return 0
        try:
            result = _dispatch(root, header, payload, inp)
        except (OSError, ValueError, KeyError, RecursionError) as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}, b""
        _reply(out, *result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
