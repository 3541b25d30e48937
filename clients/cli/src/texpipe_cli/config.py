"""Where the api is and which token to send: the environment, else ``.texpipe/env``.

``make up`` writes ``TEXPIPE_API_URL`` and ``TEXPIPE_TOKEN`` to ``.texpipe/env`` at the root of
the checkout; the CLI finds that file from any folder below it. A variable set in the
environment wins over the file, key by key.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from texpipe_cli.errors import UsageError

ENV_FILE = Path(".texpipe") / "env"
URL_KEY = "TEXPIPE_API_URL"
TOKEN_KEY = "TEXPIPE_TOKEN"
DEFAULT_API_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """How to reach the api."""

    url: str
    token: str


def parse_env_file(text: str, *, source: str = ".texpipe/env") -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments are skipped, an ``export `` prefix
    and one pair of matching quotes around the value are allowed (shell-compatible files)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise UsageError(f"{source}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def find_env_file(start: Path) -> Path | None:
    """The nearest ``.texpipe/env`` in ``start`` or one of its parents."""
    for folder in (start, *start.parents):
        candidate = folder / ENV_FILE
        if candidate.is_file():
            return candidate
    return None


def load_config(environ: Mapping[str, str], cwd: Path) -> ApiConfig:
    """The api URL and token, from the environment first, then the nearest env file."""
    values: dict[str, str] = {}
    env_file = find_env_file(cwd)
    if env_file is not None:
        try:
            text = env_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {env_file}: {exc}") from exc
        values.update(parse_env_file(text, source=str(env_file)))
    values.update({k: v for k, v in environ.items() if k in (URL_KEY, TOKEN_KEY) and v})
    url = values.get(URL_KEY, DEFAULT_API_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{URL_KEY} must start with http:// or https://, got {url!r}")
    token = values.get(TOKEN_KEY, "")
    if not token:
        raise UsageError(
            f"no api token: set {TOKEN_KEY} in the environment or in {ENV_FILE} "
            "(`make up` writes one)"
        )
    return ApiConfig(url=url, token=token)
