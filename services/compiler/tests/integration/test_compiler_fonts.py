"""Font databases in the sandbox: fonts of the TeX trees by name, and the startup fallback."""

import io
import tempfile
from pathlib import Path

import pytest
from conftest import sandbox_limits  # type: ignore[import-not-found]  # tests dir, see conftest
from pypdf import PdfReader
from texpipe_compiler import font_cache
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.latex_runner import LatexRunner, RunStatus
from texpipe_compiler.sandbox import Mount, SandboxLayout, seccomp_program
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_contracts.v1 import Engine

# Libertinus is only in the TeX trees (texmf-dist/fonts/opentype): the system's fontconfig
# does not list it, so XeTeX finds it by name only through the prepared configuration.
_LIBERTINUS = rb"""\documentclass{article}
\usepackage{fontspec}
\setmainfont{Libertinus Serif}
\begin{document}Set in Libertinus.\end{document}
"""
_FONTAWESOME = rb"""\documentclass{article}
\usepackage{fontawesome5}
\begin{document}\faGithub\end{document}
"""


def _page_fonts(pdf: bytes) -> str:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return " ".join(str(font["/BaseFont"]) for font in page["/Resources"]["/Font"].values())


@pytest.mark.parametrize(
    ("engine", "source", "font"),
    [
        (Engine.XELATEX, _LIBERTINUS, "LibertinusSerif-Regular"),
        (Engine.LUALATEX, _LIBERTINUS, "LibertinusSerif-Regular"),
        (Engine.TECTONIC, _LIBERTINUS, "LibertinusSerif-Regular"),
        (Engine.XELATEX, _FONTAWESOME, "FontAwesome5Brands-Regular"),
    ],
    ids=["xelatex-libertinus", "lualatex-libertinus", "tectonic-libertinus", "xelatex-fa5"],
)
async def test_fonts_of_the_tex_trees_are_found_by_name(
    engine: Engine, source: bytes, font: str, runner: LatexRunner, sandbox_uid: int | None
) -> None:
    result = await runner.compile(
        [ProjectFile("main.tex", source)],
        "main.tex",
        engine,
        uid=sandbox_uid,
        cpu_s=60,
        source_date_epoch=0,
    )
    assert result.status is RunStatus.OK, result.log[-2000:]
    assert result.pdf is not None
    assert font in _page_fonts(result.pdf)


async def test_without_a_prepared_folder_the_warm_up_builds_luaotfload_names_in_a_sandbox(
    sandbox_uid: int | None,
) -> None:
    """The compiler's fallback (``prepare_luatex_cache``), what it mounts for LuaLaTeX jobs."""
    with tempfile.TemporaryDirectory(prefix="texpipe-test-luacache-") as folder:
        dest = Path(folder)
        dest.chmod(0o755)
        layout = SandboxLayout(
            python="/usr/bin/python3", extra_ro_mounts=(Mount(folder, font_cache.MOUNT_POINT),)
        )
        launcher = SandboxLauncher(layout, sandbox_limits(), seccomp_program())
        assert await font_cache.prepare_luatex_cache(launcher, dest, sandbox_uid)
        names = dest / "luatex-cache" / "generic" / "names"
        assert sorted(p.name for p in names.glob("luaotfload-names.*"))
