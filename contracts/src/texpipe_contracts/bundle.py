"""The source bundle: how a revision's files travel from the api to the compiler via S3.

A bundle is an uncompressed POSIX (pax) tar whose members are regular files only, in sorted
order, with fixed metadata, so that the same file set always gives the same bytes and hence
the same sha256 and the same S3 key (uploaded once, cached by content).
"""

import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from texpipe_contracts.paths import check_project_path

BUNDLE_CONTENT_TYPE = "application/x-tar"


@dataclass(frozen=True, slots=True)
class Bundle:
    """A built bundle and its identity."""

    data: bytes
    sha256: str

    @property
    def key(self) -> str:
        """The S3 key: content-addressed, so identical projects share one object."""
        return source_key(self.sha256)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


def source_key(sha256: str) -> str:
    """The S3 key of the bundle whose sha256 is given."""
    return f"sources/{sha256}.tar"


def build_bundle(files: Mapping[str, bytes]) -> Bundle:
    """Pack ``files`` (project path -> content) into a deterministic tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            check_project_path(path)
            content = files[path]
            info = tarfile.TarInfo(name=path)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    return Bundle(data=data, sha256=hashlib.sha256(data).hexdigest())
