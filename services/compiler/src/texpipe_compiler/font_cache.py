"""A luaotfload font cache prepared once per compiler process, from a trusted document.

Without it every LuaLaTeX job rebuilds the font-name database in its own tmpfs (~1 s).
The cache is built inside a sandbox like any compile, copied out file by file, stored
read-only on the host, mounted read-only in every sandbox and copied into the job's own
TEXMFVAR: no job can change what another job reads (NOTES.md: shared font caches were
poisoned through a project's own font files).
"""

import asyncio
from pathlib import Path

import structlog

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.sandbox_launcher import SandboxLauncher

MOUNT_POINT = "/opt/texpipe/luatex-cache"
WARMUP_TIMEOUT_S = 120
_CACHE_SUBDIR = "cache"
_MAX_FILE_BYTES = 64 * 1024 * 1024
_WARMUP = (
    b"\\documentclass{article}\\usepackage{fontspec}\\begin{document}"
    b"Text \\textbf{bold} \\textit{italic} \\textbf{\\textit{both}} \\texttt{mono} \\textsf{sans}"
    b" $x^2$\\end{document}\n"
)

log = structlog.get_logger(__name__)


async def prepare_luatex_cache(launcher: SandboxLauncher, dest: Path, uid: int | None) -> bool:
    """Fill ``dest`` (an empty host directory) with a luaotfload cache; True on success."""
    env = {**cmd.tex_environment(0), "TEXMFVAR": f"{cmd.PROJECT_DIR}/{_CACHE_SUBDIR}"}
    async with launcher.session(uid, WARMUP_TIMEOUT_S) as session:
        await session.put([ProjectFile("warmup.tex", _WARMUP)])
        result = await session.run(
            ["lualatex", "--nosocket", "-interaction=nonstopmode", "./warmup.tex"],
            env,
            output_cap=64 * 1024,
        )
        if result.exit_code != 0:
            log.warning("luatex_cache_warmup_failed", exit_code=result.exit_code)
            return False
        paths = await session.list([""], max_files=10_000)
        copied = 0
        for path in paths:
            if not path.startswith(f"{_CACHE_SUBDIR}/"):
                continue
            read = await session.read(path, max_bytes=_MAX_FILE_BYTES)
            if read.status != "ok":
                continue
            target = dest / path.removeprefix(f"{_CACHE_SUBDIR}/")
            await asyncio.to_thread(_store, target, read.data)
            copied += 1
    log.info("luatex_cache_prepared", files=copied)
    return copied > 0


def _store(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    target.write_bytes(data)
    target.chmod(0o644)
