"""Print the entries of a uv-exported lock file (``requirements.lock``) for the named packages.

Image builds bootstrap uv itself with pip, pinned and hash-checked by the same lock as
everything else: ``python3 pick_from_lock.py uv < requirements.lock > uv.txt`` then
``pip install --require-hashes --no-deps -r uv.txt``. Standard library only, so it runs on any
base image's python3.
"""

import re
import sys

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pick(lock_text: str, names: set[str]) -> str:
    """The lock entries (requirement line plus its ``--hash`` lines) of ``names``."""
    wanted = {_normalise(n) for n in names}
    found: set[str] = set()
    out: list[str] = []
    keep = False
    for line in lock_text.splitlines():
        match = _ENTRY.match(line)
        if match:
            name = _normalise(match.group(1))
            keep = name in wanted
            if keep:
                found.add(name)
        elif not line.startswith(" "):
            keep = False
        if keep and not line.lstrip().startswith("#"):
            out.append(line)
    missing = wanted - found
    if missing:
        raise SystemExit(f"not in the lock file: {', '.join(sorted(missing))}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(pick(sys.stdin.read(), set(sys.argv[1:])))
