"""Preamble formats as uncompressed files on the compiler's own disk, one per format key.

A compile that starts from a format gets its file mounted read-only into the sandbox
(``sandbox.bwrap_argv``), instead of 8 MB of compressed format written through the sandbox's
protocol pipe, and pdfTeX reads it without inflating it. Measured here on the corpus's
``article`` (``pdflatex -fmt``, TeX Live 2022): 8 MB compressed, 22 MB as a file; a pass took
~330 ms from the compressed format and ~275 ms from the uncompressed one, and writing the
compressed one into the sandbox ~30 ms. S3 keeps the compressed format (``StateStore``);
this folder is a cache of it, bounded in bytes, the least recently used file dropped first.
A file a running sandbox has mounted stays readable there after it is dropped (the mount
holds it).
"""

import contextlib
import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path

MAX_FORMAT_FILE_BYTES = 512 * 1024 * 1024
"""The largest uncompressed format kept (TeX's memory sizes of texmf.cnf bound a real one
far below: 22 MB for a preamble with amsmath and hyperref); a larger one is not used."""
_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class FormatFiles:
    """The folder of uncompressed formats (made 0755 so each slot's uid reads through its
    read-only mount; files are 0444). Its methods block: call them in a thread."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self._folder, self._max_bytes = folder, max_bytes

    def _path(self, key: str) -> Path:
        return self._folder / (hashlib.sha256(key.encode()).hexdigest() + ".fmt")

    def get(self, key: str) -> Path | None:
        """The file of ``key``, if it is here (marked as just used)."""
        path = self._path(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def put(self, key: str, data: bytes) -> Path | None:
        """Write ``data`` (a format as the engine dumped it, gzip or not) uncompressed as the
        file of ``key``; None when it inflates past ``MAX_FORMAT_FILE_BYTES`` or is not
        valid gzip (a miss for the caller, never an error)."""
        path = self._path(key)
        temporary = path.with_suffix(f".{os.getpid()}.{id(data)}.part")
        try:
            with temporary.open("wb") as out:
                if not _write_inflated(data, out.write):
                    return None
            temporary.chmod(0o444)
            temporary.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        self._trim(keep=path)
        return path

    def discard(self, key: str) -> None:
        """Drop the file of ``key`` (a format that failed its check)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def _trim(self, keep: Path) -> None:
        files: list[tuple[float, int, Path]] = []
        for path in self._folder.glob("*.fmt"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self._max_bytes:
                break
            if path != keep:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size


def _write_inflated(data: bytes, write: Callable[[bytes], object]) -> bool:
    """Write ``data`` inflated (as is when it is not gzip); False past the size cap or on a
    corrupt or truncated stream."""
    if not data.startswith(GZIP_MAGIC):
        if len(data) > MAX_FORMAT_FILE_BYTES:
            return False
        write(data)
        return True
    inflater = zlib.decompressobj(wbits=31)
    written, pending = 0, data
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                return False  # the stream ends before its end marker
            written += len(chunk)
            if written > MAX_FORMAT_FILE_BYTES:
                return False
            write(chunk)
    except zlib.error:
        return False
    return True
