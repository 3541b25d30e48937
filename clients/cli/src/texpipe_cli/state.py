"""The local memory of ``texpipe compile``: which document a folder became, at which revision.

Kept as JSON in ``.texpipe/document.json`` (see ``files.state_path``). The api URL is part of
it: the same folder sent to another api (another machine, a fresh stack) becomes a new
document there instead of a 404.
"""

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from texpipe_cli.errors import UsageError


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the last ``texpipe compile`` of a path left behind."""

    api_url: str
    document_id: str
    revision: int
    job_id: str | None = None


def read_state(path: Path) -> DocumentState | None:
    """The saved state, or None when there is none yet."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path} is unreadable ({exc}); delete it to start a new document"
        ) from exc
    try:
        return DocumentState(
            api_url=str(raw["api_url"]),
            document_id=str(raw["document_id"]),
            revision=int(raw["revision"]),
            job_id=None if raw.get("job_id") is None else str(raw["job_id"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path} is not a texpipe state file; delete it to start over") from exc


def write_state(path: Path, state: DocumentState) -> None:
    """Replace the state file atomically."""
    write_bytes_atomically(path, (json.dumps(asdict(state), indent=2) + "\n").encode())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` through a temporary file in the same folder, then rename it: an
    interrupted write never leaves half a file. Mode 0666 minus the umask, like any new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("xb") as out:
            out.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
