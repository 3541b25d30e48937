"""Font databases of the sandboxed engines: luaotfload's (LuaLaTeX) and fontconfig's (XeLaTeX,
Tectonic: fontspec by font name).

Prepared once per installed state into a persistent folder (``make font-cache``, the image)::

    python -m texpipe_compiler.font_cache DEST

- ``DEST/luatex``: a TEXMFVAR holding luaotfload's font-name database of every font it
  indexes (the TeX trees' and the system's: ~3100 here) and the caches of the default fonts,
  made by compiling a trusted warm-up document.
- ``DEST/fontconfig``: ``fonts.conf`` (the system's configuration plus the TeX trees'
  OpenType and TrueType folders, which the system's does not list: ``\\setmainfont{Libertinus
  Serif}`` fails without them) and fontconfig's cache of those folders.
- ``DEST/STAMP``: the installed state both were made from (the TeX trees' ls-R files, the
  system font folders, this module's warm-up and configuration). A compiler uses DEST only
  while it matches.

Both are mounted read-only in every sandbox. luaotfload's cache is copied into the job's own
TEXMFVAR (NOTES.md: a shared font cache was poisoned through a project's own font files);
fontconfig only reads its cache there, and writes any new one into the job's own HOME.

Without a current DEST the compiler builds luaotfload's cache at startup in a sandbox
(``prepare_luatex_cache``: ~15 s alone, ~24 s under load on this machine's 2 cores with the
full TeX Live) and XeTeX sees the system's fonts only.
"""

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.sandbox_launcher import SandboxLauncher

MOUNT_POINT = "/opt/texpipe/luatex-cache"
FONTCONFIG_MOUNT_POINT = "/opt/texpipe/fontconfig"
FONTCONFIG_FILE = f"{FONTCONFIG_MOUNT_POINT}/fonts.conf"
WARMUP_TIMEOUT_S = 120
PREPARE_TIMEOUT_S = 600
LUATEX_SUBDIR = "luatex"
FONTCONFIG_SUBDIR = "fontconfig"
STAMP = "STAMP"
LS_R_FILES = ("/var/lib/texmf/ls-R", "/usr/share/texmf/ls-R", "/usr/share/texlive/texmf-dist/ls-R")
SYSTEM_FONT_ROOTS = ("/usr/share/fonts", "/usr/local/share/fonts")
TEX_FONT_DIRS = tuple(
    f"{root}/fonts/{kind}"
    for root in ("/usr/share/texlive/texmf-dist", "/usr/share/texmf", "/usr/local/share/texmf")
    for kind in ("opentype", "truetype")
)
"""The TeX trees' folders XeTeX can use by name (Type 1 fonts it cannot: left out)."""
_CACHE_SUBDIR = "cache"
_MAX_FILE_BYTES = 64 * 1024 * 1024
_WARMUP = (
    b"\\documentclass{article}\\usepackage{fontspec}\\begin{document}"
    b"Text \\textbf{bold} \\textit{italic} \\textbf{\\textit{both}} \\texttt{mono} \\textsf{sans}"
    b" $x^2$\\end{document}\n"
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PreparedFonts:
    """Host folders to mount: ``luatex`` at MOUNT_POINT, ``fontconfig`` (None: the compiler
    prepares luaotfload's cache itself into ``luatex`` and XeTeX uses the system's
    configuration) at FONTCONFIG_MOUNT_POINT."""

    luatex: Path
    fontconfig: Path | None


def fonts_conf(cache_dir: str) -> str:
    """fontconfig's configuration: ``cache_dir`` first (the one it writes), the system's
    configuration, then the TeX trees' font folders that exist."""
    dirs = "".join(f"  <dir>{d}</dir>\n" for d in TEX_FONT_DIRS if Path(d).is_dir())
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig>\n  <cachedir>{cache_dir}</cachedir>\n"
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"{dirs}</fontconfig>\n"
    )


def installed_state() -> str:
    """What the prepared databases depend on, one line each (a few ms: ~300 folders)."""
    recipe = hashlib.sha256(_WARMUP + fonts_conf(FONTCONFIG_MOUNT_POINT).encode()).hexdigest()
    lines = [f"recipe {recipe}"]
    for name in LS_R_FILES:
        path = Path(name)
        if path.exists():
            info = path.stat()
            lines.append(f"{name} {info.st_size} {int(info.st_mtime)}")
    for root in SYSTEM_FONT_ROOTS:
        for dirpath, dirnames, _ in os.walk(root):
            dirnames.sort()
            lines.append(f"{dirpath} {int(Path(dirpath).stat().st_mtime)}")
    return "\n".join(lines) + "\n"


def prepared_fonts(root: Path) -> PreparedFonts | None:
    """The databases under ``root`` if they were made from the installed state, else None."""
    root = root.resolve()
    try:
        current = (root / STAMP).read_text() == installed_state()
    except OSError:
        return None
    return PreparedFonts(root / LUATEX_SUBDIR, root / FONTCONFIG_SUBDIR) if current else None


def prepare(root: Path) -> None:
    """Make both databases from the installed fonts into ``root`` (replaced whole at the end).

    Runs the installed programs directly, not in a sandbox: the input is this module's own
    document and the system's fonts. The environment points every cache at the new folder,
    so that nothing is written into the system's (as root, luaotfload would otherwise write
    into /var/lib/texmf and fontconfig into /var/cache/fontconfig).
    """
    state = installed_state()
    root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _prepare_luatex(building / LUATEX_SUBDIR)
        _prepare_fontconfig(building / FONTCONFIG_SUBDIR)
        (building / STAMP).write_text(state)
        for path in [building, *building.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # the sandbox's uid reads them
        shutil.rmtree(root, ignore_errors=True)
        building.rename(root)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _prepare_luatex(var: Path) -> None:
    var.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "warmup.tex").write_bytes(_WARMUP)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": work,
            "LANG": "C.UTF-8",
            "TEXMFVAR": str(var),
            "TEXMFCACHE": str(var),
            "TEXMFCONFIG": f"{work}/config",
            "SOURCE_DATE_EPOCH": "0",
        }
        subprocess.run(
            ["lualatex", "--nosocket", "-interaction=nonstopmode", "-halt-on-error", "warmup.tex"],
            cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, timeout=PREPARE_TIMEOUT_S,
        )  # fmt: skip


def _prepare_fontconfig(folder: Path) -> None:
    cache = folder / _CACHE_SUBDIR
    cache.mkdir(parents=True)
    (folder / "fonts.conf").write_text(fonts_conf(f"{FONTCONFIG_MOUNT_POINT}/{_CACHE_SUBDIR}"))
    # The same configuration with the host's path of the cache: fontconfig names cache files
    # after the font folder they describe, so the sandbox finds them at its mount point.
    with tempfile.TemporaryDirectory() as work:
        host_conf = Path(work) / "fonts.conf"
        host_conf.write_text(fonts_conf(str(cache)))
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "FONTCONFIG_FILE": str(host_conf)}
        subprocess.run(
            ["fc-cache"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=PREPARE_TIMEOUT_S
        )


async def prepare_luatex_cache(launcher: SandboxLauncher, dest: Path, uid: int | None) -> bool:
    """Fill ``dest`` (an empty host directory) with a luaotfload cache built in a sandbox;
    True on success. The compiler's fallback when no current preparation exists."""
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


def main(argv: list[str] | None = None) -> int:
    """``python -m texpipe_compiler.font_cache DEST [--force]``: prepare unless current."""
    parser = argparse.ArgumentParser(description="Prepare the compiler's font databases.")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--force", action="store_true", help="prepare even when current")
    args = parser.parse_args(argv)
    dest: Path = args.dest.resolve()
    if not args.force and prepared_fonts(dest) is not None:
        print(f"font caches: up to date in {dest}", file=sys.stderr)
        return 0
    prepare(dest)
    print(f"font caches: prepared in {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
