"""Which engines this compiler can run, their versions and a fingerprint of their formats.

Probed once at startup. The version and fingerprint enter the cache key, so a TeX Live
update (new formats) never serves a PDF built by the old one.
"""

import asyncio
import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from texpipe_contracts.v1 import Engine

from texpipe_compiler.errors import EngineUnavailableError

PROBE_TIMEOUT_S = 20.0
# engine -> (program, kpathsea engine name of its format)
_TEX_PROGRAMS = {
    Engine.PDFLATEX: ("pdflatex", "pdftex"),
    Engine.XELATEX: ("xelatex", "xetex"),
    Engine.LUALATEX: ("lualatex", "luahbtex"),
}


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """An installed engine."""

    engine: Engine
    version: str
    fingerprint: str
    binary: str


class Engines:
    """The engines found at startup, and why the others are missing."""

    def __init__(
        self,
        found: Mapping[Engine, EngineInfo],
        missing: Mapping[Engine, str],
        enabled: Iterable[Engine],
    ) -> None:
        self._found, self._missing, self._enabled = dict(found), dict(missing), frozenset(enabled)

    def info(self, engine: Engine) -> EngineInfo:
        """The engine's details; EngineUnavailableError says why it cannot run."""
        if engine not in self._enabled:
            raise EngineUnavailableError(f"engine {engine.value} is not enabled on this compiler")
        if engine not in self._found:
            reason = self._missing.get(engine, "not installed")
            raise EngineUnavailableError(f"engine {engine.value} is unavailable: {reason}")
        return self._found[engine]

    @property
    def available(self) -> frozenset[Engine]:
        """Enabled engines that can run."""
        return frozenset(e for e in self._enabled if e in self._found)

    async def check(self) -> None:
        """For /ready: every enabled engine is present (its binary still exists)."""
        problems = [
            f"{e.value}: {self._missing.get(e, 'not installed')}"
            for e in sorted(self._enabled)
            if e not in self._found
        ]
        problems += [
            f"{info.engine.value}: {info.binary} is gone"
            for info in self._found.values()
            if not os.access(info.binary, os.X_OK)
        ]
        if problems:
            raise RuntimeError("; ".join(problems))


async def _first_line(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
    )
    async with asyncio.timeout(PROBE_TIMEOUT_S):
        out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {process.returncode}")
    return out.decode("utf-8", "replace").strip().split("\n")[0][:200]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _probe_tex(engine: Engine) -> EngineInfo:
    program, kpse_engine = _TEX_PROGRAMS[engine]
    binary = shutil.which(program, path="/usr/bin:/bin")
    if binary is None:
        raise RuntimeError(f"{program} not found")
    version = await _first_line(program, "--version")
    fmt = await _first_line(
        "kpsewhich", f"-engine={kpse_engine}", f"-progname={program}", f"{program}.fmt"
    )
    fingerprint = await asyncio.to_thread(_sha256_file, Path(fmt))
    return EngineInfo(engine, version, fingerprint, binary)


async def _probe_tectonic(root: Path) -> EngineInfo:
    binary, checksum = root / "bin" / "tectonic", root / "bundle" / "SHA256SUM"
    if not binary.is_file() or not checksum.is_file():
        raise RuntimeError(f"not installed under {root} (run: make tectonic)")
    if not any((root / "cache" / "formats").glob("*.fmt")):
        raise RuntimeError(f"no prebuilt format under {root}/cache (run: make tectonic)")
    version = await _first_line(str(binary), "--version")
    return EngineInfo(Engine.TECTONIC, version, checksum.read_text().strip(), str(binary))


async def probe_engines(enabled: Iterable[Engine], tectonic_root: Path) -> Engines:
    """Find every engine in ``enabled``."""
    wanted = sorted(set(enabled))
    probes = [
        _probe_tectonic(tectonic_root) if e is Engine.TECTONIC else _probe_tex(e) for e in wanted
    ]
    results = await asyncio.gather(*probes, return_exceptions=True)
    found: dict[Engine, EngineInfo] = {}
    missing: dict[Engine, str] = {}
    for engine, result in zip(wanted, results, strict=True):
        if isinstance(result, EngineInfo):
            found[engine] = result
        else:
            missing[engine] = str(result)[:300]
    return Engines(found, missing, wanted)
